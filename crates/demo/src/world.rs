//! The demo's city and its week, drawn from the seed before anything is sent: stations and
//! travel times, the fleet, the customers, and every order of the week with what becomes of it
//! (calls, confirmation or cancellation, pickup, breakdown and swap, return, damage, offences).
//! Pure: no I/O and no clock, so a seed gives the same week every time it is drawn.

use time::{Duration, OffsetDateTime};

use rentops_proto::common::VehicleModel;

use crate::rng::Rng;

pub struct Station {
    pub id: &'static str,
    pub name: &'static str,
}

pub const STATIONS: [Station; 6] = [
    Station {
        id: "PVG",
        name: "浦东国际机场",
    },
    Station {
        id: "SHA",
        name: "虹桥国际机场",
    },
    Station {
        id: "HQR",
        name: "虹桥火车站",
    },
    Station {
        id: "LJZ",
        name: "陆家嘴",
    },
    Station {
        id: "XJH",
        name: "徐家汇",
    },
    Station {
        id: "JAS",
        name: "静安寺",
    },
];

/// Minutes between stations (index pairs; the reverse is the same): airports are far from
/// everything, the centre is close together.
pub const TRAVEL: [(usize, usize, u32); 15] = [
    (0, 1, 60),
    (0, 2, 55),
    (0, 3, 45),
    (0, 4, 55),
    (0, 5, 50),
    (1, 2, 10),
    (1, 3, 40),
    (1, 4, 30),
    (1, 5, 35),
    (2, 3, 40),
    (2, 4, 30),
    (2, 5, 35),
    (3, 4, 25),
    (3, 5, 20),
    (4, 5, 20),
];

/// The province prefix of a city's plates (an unknown city gets 苏E, a prefix none of the
/// listed cities uses).
pub fn plate_prefix(city: &str) -> &'static str {
    match city {
        "SHA" => "沪A",
        "PEK" | "BJS" => "京A",
        "CAN" => "粤A",
        "SZX" => "粤B",
        "CTU" => "川A",
        "HGH" => "浙A",
        "NKG" => "苏A",
        _ => "苏E",
    }
}

pub struct Car {
    pub vehicle_id: String,
    pub vin: String,
    pub plate: String,
    pub model: VehicleModel,
    pub home: usize,
    /// Spares stand by for swaps and are not hired out on their own.
    pub spare: bool,
}

/// The fleet of a city: fixed by the city and the count only (not the seed), so that another
/// seed on the same cluster finds the same cars rather than clashing with them.
pub fn fleet(city: &str, cars: u32) -> Vec<Car> {
    const MODELS: [(VehicleModel, u64); 6] = [
        (VehicleModel::Et5, 30),
        (VehicleModel::Es6, 25),
        (VehicleModel::Et7, 15),
        (VehicleModel::Es8, 10),
        (VehicleModel::Ec6, 10),
        (VehicleModel::Et5t, 10),
    ];
    let mut rng = Rng::new(0, &format!("fleet:{city}"));
    let weights: Vec<u64> = MODELS.iter().map(|m| m.1).collect();
    // VIN characters never include I, O or Q.
    const VIN_CHARS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
    let city_code: String = city
        .bytes()
        .map(|b| char::from(VIN_CHARS[usize::from(b) % VIN_CHARS.len()]))
        .take(3)
        .collect();
    (0..cars)
        .map(|i| {
            let n = i + 1;
            let model = MODELS[rng.weighted(&weights)].0;
            Car {
                vehicle_id: format!("{city}-V{n:03}"),
                vin: format!("LNBSC{city_code:0>3}{n:09}"),
                plate: format!("{}·D{:05}", plate_prefix(city), 10_000 + n),
                model,
                home: (i as usize) % STATIONS.len(),
                spare: cars >= 8 && i % 12 == 11,
            }
        })
        .collect()
}

pub struct Customer {
    pub id: String,
    pub name: String,
    pub phone: String,
}

pub fn customers(seed: u64, count: usize) -> Vec<Customer> {
    const SURNAMES: [&str; 16] = [
        "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    ];
    const GIVEN: [&str; 16] = [
        "芳", "伟", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞",
    ];
    let mut rng = Rng::new(seed, "customers");
    (0..count)
        .map(|i| {
            let s = rng.pick(&SURNAMES).copied().unwrap_or("王");
            let g = rng.pick(&GIVEN).copied().unwrap_or("芳");
            Customer {
                id: format!("C-D{seed}-{:04}", i + 1),
                name: format!("{s}{g}"),
                phone: format!(
                    "+86 13{} {:04} {:04}",
                    rng.range(0, 9),
                    rng.range(0, 9999),
                    rng.range(0, 9999)
                ),
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    App,
    MiniProgram,
    Web,
    CallCenter,
    Partner(&'static str),
}

impl Channel {
    /// Its part of the channel order reference.
    pub fn code(self) -> &'static str {
        match self {
            Channel::App => "APP",
            Channel::MiniProgram => "MP",
            Channel::Web => "WEB",
            Channel::CallCenter => "CC",
            Channel::Partner(p) => p,
        }
    }

    pub fn draw(rng: &mut Rng) -> Channel {
        match rng.weighted(&[35, 20, 10, 10, 12, 8, 5]) {
            0 => Channel::App,
            1 => Channel::MiniProgram,
            2 => Channel::Web,
            3 => Channel::CallCenter,
            4 => Channel::Partner("CTRIP"),
            5 => Channel::Partner("FLIGGY"),
            _ => Channel::Partner("QUNAR"),
        }
    }
}

/// A confirmation call: when, and how it went.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    NoAnswer,
    WrongNumber,
    /// The customer asks to be called again at that time.
    Later(OffsetDateTime),
    Reached,
}

/// What becomes of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Hired,
    /// Confirmed, then cancelled by the customer.
    CustomerCancelled,
    /// Cancelled by the partner channel before any call.
    ChannelCancelled,
    /// Confirmed, and the customer did not come.
    NoShow,
    /// No call ever reached the customer before pickup: lapsed, then closed as a no-show.
    Lapsed,
}

pub struct Hire {
    pub picked_up_at: OffsetDateTime,
    pub returned_at: OffsetDateTime,
    pub odometer_out: i64,
    pub odometer_in: i64,
    pub charge_out: u32,
    pub charge_in: u32,
    pub damage: Option<&'static str>,
    pub swap: Option<Swap>,
}

pub struct Swap {
    pub broke_at: OffsetDateTime,
    pub swapped_at: OffsetDateTime,
    pub repaired_at: OffsetDateTime,
    pub from_odometer: i64,
    pub from_charge: u32,
    /// Index into the fleet.
    pub replacement: usize,
    pub replacement_odometer: i64,
}

pub struct Order {
    pub key: String,
    pub channel: Channel,
    pub customer: usize,
    pub car: usize,
    pub pickup_station: usize,
    pub return_station: usize,
    pub placed_at: OffsetDateTime,
    pub pickup_at: OffsetDateTime,
    pub return_at: OffsetDateTime,
    pub model: VehicleModel,
    pub price_fen: i64,
    pub full_cover: bool,
    pub calls: Vec<(OffsetDateTime, Call)>,
    pub fate: Fate,
    pub hire: Option<Hire>,
}

/// A traffic offence as the authority will publish it.
pub struct Offence {
    pub plate: String,
    pub at: OffsetDateTime,
    pub code: &'static str,
    pub text: &'static str,
    pub place: &'static str,
    pub fine_fen: i64,
    pub points: u32,
    /// The order whose renter had the car then (none: the car stood idle).
    pub order: Option<usize>,
}

pub const OFFENCES: [(&str, &str, i64, u32); 5] = [
    ("1352", "超过规定时速20%以下", 20_000, 3),
    ("1039", "违反禁令标志指示", 10_000, 3),
    ("1625", "驾驶机动车违反道路交通信号灯通行", 20_000, 6),
    ("1039A", "机动车违反规定停放", 20_000, 0),
    ("1344", "不按规定车道行驶", 10_000, 2),
];

pub const PLACES: [&str; 6] = [
    "浦东机场南路与迎宾大道路口",
    "延安高架路虹许路段",
    "中环路真北路立交",
    "世纪大道东方路口",
    "肇嘉浜路天钥桥路口",
    "南京西路华山路口",
];

pub const DAMAGE: [&str; 5] = [
    "左前保险杠刮擦",
    "右后门凹陷",
    "前挡风玻璃裂纹",
    "右前轮毂刮伤",
    "后保险杠撞击变形",
];

pub struct Week {
    pub orders: Vec<Order>,
    pub offences: Vec<Offence>,
}

fn round_to(t: OffsetDateTime, minutes: i64) -> OffsetDateTime {
    let secs = minutes * 60;
    let unix = t.unix_timestamp();
    OffsetDateTime::from_unix_timestamp(unix - unix.rem_euclid(secs)).unwrap_or(t)
}

/// Draws the week from `start` (seven days) for `fleet` and `customers` customers.
pub fn week(seed: u64, city: &str, start: OffsetDateTime, fleet: &[Car], customers: usize) -> Week {
    let end = start + Duration::days(7);
    let mut rng = Rng::new(seed, &format!("week:{city}"));
    let mut orders = Vec::new();
    // When each car is busy (hires, swaps, repairs), to find a spare free for a swap.
    let mut busy: Vec<Vec<(OffsetDateTime, OffsetDateTime)>> = vec![Vec::new(); fleet.len()];
    let mut odometer: Vec<i64> = (0..fleet.len()).map(|_| rng.range(3_000, 40_000)).collect();
    let spares: Vec<usize> = (0..fleet.len()).filter(|&i| fleet[i].spare).collect();
    let turnaround = Duration::minutes(60);
    let mut swapped_any = false;
    for (ci, car) in fleet.iter().enumerate() {
        if car.spare {
            continue;
        }
        let mut t = start + Duration::minutes(rng.range(0, 600));
        let mut station = car.home;
        loop {
            let pickup_station = station;
            let gap = Duration::minutes(rng.range(60, 16 * 60));
            let pickup_at = round_to(t + gap, 10);
            if pickup_at >= end - Duration::hours(2) {
                break;
            }
            let hours = [4, 8, 24, 48, 72][rng.weighted(&[15, 25, 30, 20, 10])];
            let return_at = pickup_at + Duration::hours(hours);
            let return_station = if rng.chance(60) {
                station
            } else {
                rng.range(0, STATIONS.len() as i64 - 1) as usize
            };
            let channel = Channel::draw(&mut rng);
            let placed_at = round_to(pickup_at - Duration::minutes(rng.range(6 * 60, 5 * 24 * 60)), 1);
            let n = orders.len() + 1;
            let key = format!("D{seed}-{city}-{:x}-{n:04}", start.unix_timestamp() / 86_400);
            let fate = match rng.weighted(&[80, 7, 2, 4, 4]) {
                0 => Fate::Hired,
                1 => Fate::CustomerCancelled,
                2 if matches!(channel, Channel::Partner(_)) => Fate::ChannelCancelled,
                2 => Fate::CustomerCancelled,
                3 => Fate::NoShow,
                _ => Fate::Lapsed,
            };
            // The desk calls within the contact window; some calls need another try.
            let mut calls = Vec::new();
            let mut at = placed_at + Duration::minutes(rng.range(5, 110));
            let latest = pickup_at - Duration::minutes(30);
            if fate == Fate::Lapsed {
                calls.push((at.min(latest), Call::NoAnswer));
                if rng.chance(50) {
                    calls.push(((at + Duration::minutes(40)).min(latest), Call::WrongNumber));
                }
            } else if fate != Fate::ChannelCancelled {
                match rng.weighted(&[60, 20, 8, 12]) {
                    1 => {
                        calls.push((at.min(latest), Call::NoAnswer));
                        at += Duration::minutes(30 + rng.range(0, 30));
                    }
                    2 => {
                        calls.push((at.min(latest), Call::WrongNumber));
                        at += Duration::minutes(45);
                    }
                    3 => {
                        let back = at + Duration::minutes(rng.range(60, 180));
                        calls.push((at.min(latest), Call::Later(back)));
                        at = back;
                    }
                    _ => {}
                }
                calls.push((at.min(latest), Call::Reached));
            }
            let model = car.model;
            let price_fen = 30_000 * (hours.max(24) / 24) + rng.range(0, 20) * 1_000;
            let full_cover = rng.chance(30);
            let mut hire = None;
            if fate == Fate::Hired {
                let late = [-15, -5, 0, 5, 10, 20, 45][rng.weighted(&[10, 20, 30, 15, 10, 10, 5])];
                let picked_up_at = pickup_at + Duration::minutes(late);
                let back = return_at + Duration::minutes(rng.range(-60, 90));
                let returned_at = back.max(picked_up_at + Duration::hours(1));
                let km = hours * rng.range(6, 20);
                let charge_out = rng.range(70, 100) as u32;
                let damage = if rng.chance(9) {
                    rng.pick(&DAMAGE).copied()
                } else {
                    None
                };
                let odometer_out = odometer[ci];
                let mut swap = None;
                // A breakdown during a longer hire: a spare free until the return replaces it.
                // The first long hire of the week always does, so even a small week has a swap.
                if hours >= 24 && (!swapped_any || rng.chance(12)) {
                    let broke_at = round_to(picked_up_at + Duration::minutes(rng.range(120, hours * 60 / 2)), 1);
                    let swapped_at = broke_at + Duration::minutes(rng.range(60, 180));
                    let repaired_at = swapped_at + Duration::hours(rng.range(20, 48));
                    let need = (swapped_at, returned_at + turnaround);
                    if swapped_at < returned_at - Duration::hours(1)
                        && let Some(&r) = spares
                            .iter()
                            .find(|&&s| busy[s].iter().all(|&(a, b)| b <= need.0 || a >= need.1))
                    {
                        let part = (broke_at - picked_up_at).whole_hours().max(1);
                        let from_odometer = odometer_out + part * rng.range(6, 20);
                        busy[r].push(need);
                        swapped_any = true;
                        swap = Some(Swap {
                            broke_at,
                            swapped_at,
                            repaired_at,
                            from_odometer,
                            from_charge: rng.range(10, 60) as u32,
                            replacement: r,
                            replacement_odometer: odometer[r],
                        });
                    }
                }
                let (odometer_in, t_free) = match &swap {
                    Some(s) => {
                        odometer[ci] = s.from_odometer;
                        let r = s.replacement;
                        odometer[r] += km / 2 + 1;
                        (odometer[r], s.repaired_at.max(returned_at))
                    }
                    None => {
                        odometer[ci] = odometer_out + km;
                        (odometer[ci], returned_at)
                    }
                };
                busy[ci].push((picked_up_at, t_free));
                hire = Some(Hire {
                    picked_up_at,
                    returned_at,
                    odometer_out,
                    odometer_in,
                    charge_out,
                    charge_in: rng.range(15, 80) as u32,
                    damage,
                    swap,
                });
                t = t_free + turnaround;
                station = return_station;
            } else {
                t = pickup_at;
            }
            orders.push(Order {
                key,
                channel,
                customer: rng.range(0, customers as i64 - 1) as usize,
                car: ci,
                pickup_station,
                return_station,
                placed_at,
                pickup_at,
                return_at,
                model,
                price_fen,
                full_cover,
                calls,
                fate,
                hire,
            });
        }
    }
    let offences = offences(&mut rng, fleet, &orders, &busy, start);
    Week { orders, offences }
}

/// Offences during about a third of the hires (on the car the renter had that minute), and a
/// few on cars standing idle, which nobody's hire explains.
fn offences(
    rng: &mut Rng,
    fleet: &[Car],
    orders: &[Order],
    busy: &[Vec<(OffsetDateTime, OffsetDateTime)>],
    start: OffsetDateTime,
) -> Vec<Offence> {
    let mut out = Vec::new();
    for (oi, o) in orders.iter().enumerate() {
        let Some(h) = &o.hire else { continue };
        if !rng.chance(33) {
            continue;
        }
        let span = (h.returned_at - h.picked_up_at).whole_minutes().max(2);
        let at = round_to(h.picked_up_at + Duration::minutes(rng.range(1, span - 1)), 1);
        let car = match &h.swap {
            Some(s) if at >= s.swapped_at => s.replacement,
            Some(s) if at >= s.broke_at => continue,
            _ => o.car,
        };
        let (code, text, fine_fen, points) = OFFENCES[rng.range(0, OFFENCES.len() as i64 - 1) as usize];
        out.push(Offence {
            plate: fleet[car].plate.clone(),
            at,
            code,
            text,
            place: rng.pick(&PLACES).copied().unwrap_or(PLACES[0]),
            fine_fen,
            points,
            order: Some(oi),
        });
    }
    // Idle cars caught on camera: two spares at night while they stood free (moved by someone
    // nobody recorded), which no hire explains.
    let mut idle = 0;
    for (ci, car) in fleet.iter().enumerate().filter(|(_, c)| c.spare) {
        if idle == 2 {
            break;
        }
        let free = (0..7)
            .map(|d| start + Duration::hours(26 + 24 * d) + Duration::minutes(ci as i64 % 50))
            .find(|&at| busy[ci].iter().all(|&(a, b)| at < a || at > b));
        let Some(at) = free else { continue };
        let (code, text, fine_fen, points) = OFFENCES[3];
        out.push(Offence {
            plate: car.plate.clone(),
            at,
            code,
            text,
            place: PLACES[5],
            fine_fen,
            points,
            order: None,
        });
        idle += 1;
    }
    out.sort_by_key(|o| o.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monday() -> OffsetDateTime {
        time::macros::datetime!(2026-10-05 00:00 +08:00)
    }

    #[test]
    fn a_seed_draws_the_same_week() {
        let f = fleet("SHA", 12);
        let a = week(7, "SHA", monday(), &f, 24);
        let b = week(7, "SHA", monday(), &f, 24);
        assert_eq!(a.orders.len(), b.orders.len());
        assert!(a.orders.len() > 12, "{}", a.orders.len());
        for (x, y) in a.orders.iter().zip(&b.orders) {
            assert_eq!((&x.key, x.pickup_at, x.fate), (&y.key, y.pickup_at, y.fate));
        }
        assert_eq!(a.offences.len(), b.offences.len());
    }

    #[test]
    fn hires_of_a_car_never_overlap_and_end_in_order() {
        let f = fleet("SHA", 40);
        let w = week(3, "SHA", monday(), &f, 80);
        for o in &w.orders {
            assert!(o.return_at > o.pickup_at);
            assert!(o.placed_at < o.pickup_at);
            if let Some(h) = &o.hire {
                assert!(h.returned_at > h.picked_up_at);
                assert!(h.odometer_in >= h.odometer_out || h.swap.is_some());
                if let Some(s) = &h.swap {
                    assert!(s.swapped_at > s.broke_at && s.swapped_at < h.returned_at);
                    assert!(s.from_odometer >= h.odometer_out);
                    assert!(f[s.replacement].spare);
                }
            }
            for (at, _) in &o.calls {
                assert!(*at < o.pickup_at);
            }
        }
        for (ci, _) in f.iter().enumerate() {
            let mut hires: Vec<_> = w
                .orders
                .iter()
                .filter(|o| o.car == ci)
                .filter_map(|o| o.hire.as_ref())
                .map(|h| (h.picked_up_at, h.returned_at))
                .collect();
            hires.sort();
            for pair in hires.windows(2) {
                assert!(pair[0].1 <= pair[1].0, "car {ci}: {pair:?}");
            }
        }
    }

    #[test]
    fn plates_and_ids_are_unique() {
        let f = fleet("SHA", 120);
        let mut plates: Vec<_> = f.iter().map(|c| c.plate.clone()).collect();
        plates.sort();
        plates.dedup();
        assert_eq!(plates.len(), 120);
        assert!(f.iter().all(|c| c.vin.len() == 17 && !c.vin.contains(['I', 'O', 'Q'])));
    }
}
