//! Realistic random instances for benchmarks and tests, shaped like `city-3days.json`: the same
//! eight Shanghai stations and weights, the same models, upgrade ladder and mix, the same start
//! times, pickup-hour profile, rental lengths and share of one-way rentals, and about one car in
//! twelve with one maintenance window of 4–36 h. The horizon is three days whatever the size, so
//! orders per car (the load) stays as in the example.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, SecondsFormat};

use crate::model::{Instance, Order, Vehicle, Window};

/// SplitMix64: small, fast, and the same on every platform (no dependency for a generator).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// An index drawn with the given weights.
    fn pick(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

const STATIONS: [&str; 8] = [
    "PVG",
    "SHA",
    "HONGQIAO_RAIL",
    "DISNEY",
    "BUND",
    "JIADING",
    "LUJIAZUI",
    "SONGJIANG",
];
const CAR_STATION_WEIGHT: [u64; 8] = [146, 115, 102, 45, 75, 31, 56, 30];
const ORDER_STATION_WEIGHT: [u64; 8] = [520, 408, 294, 142, 232, 109, 185, 110];
const MODELS: [&str; 8] = ["ET5", "ES6", "ET5T", "EC6", "ET7", "ES8", "ES7", "EC7"];
const CAR_MODEL_WEIGHT: [u64; 8] = [170, 153, 65, 56, 46, 44, 43, 23];
const ORDER_MODEL_WEIGHT: [u64; 8] = [622, 486, 240, 162, 167, 117, 125, 81];
/// Pickups per hour of day in the example.
const HOUR_WEIGHT: [u64; 24] = [
    11, 25, 10, 15, 17, 27, 52, 114, 167, 161, 138, 121, 103, 102, 103, 137, 123, 165, 136, 107, 74, 35, 38, 19,
];
const DURATION_HOURS: [i64; 6] = [24, 10, 48, 6, 3, 72];
const DURATION_WEIGHT: [u64; 6] = [591, 387, 301, 291, 230, 200];

fn stamp(minutes: i64) -> String {
    let offset = FixedOffset::east_opt(8 * 3600);
    match (DateTime::from_timestamp(minutes * 60, 0), offset) {
        (Some(t), Some(o)) => t.with_timezone(&o).to_rfc3339_opts(SecondsFormat::Secs, false),
        // Unreachable for the horizon used here; an obviously wrong time rather than a panic.
        _ => String::from("1970-01-01T00:00:00+00:00"),
    }
}

/// A random instance with `orders` orders and `vehicles` cars, reproducible from `seed`.
pub fn generate(seed: u64, orders: usize, vehicles: usize) -> Instance {
    let mut rng = Rng(seed ^ 0x5EED_0FC0_FFEE);
    // 2026-12-01T00:00:00+08:00 in minutes since the epoch.
    let h0: i64 = 1_796_054_400 / 60;
    let days = 3i64;
    let h1 = h0 + days * 24 * 60;

    let ns = STATIONS.len();
    // Symmetric travel times of 29–112 minutes, as in the example.
    let mut travel = vec![vec![0i64; ns]; ns];
    for (a, b) in (0..ns).flat_map(|a| (a + 1..ns).map(move |b| (a, b))) {
        let m = 29 + rng.below(84) as i64;
        travel[a][b] = m;
        travel[b][a] = m;
    }
    let travel_minutes: BTreeMap<String, BTreeMap<String, i64>> = (0..ns)
        .map(|a| {
            (
                STATIONS[a].to_string(),
                (0..ns).map(|b| (STATIONS[b].to_string(), travel[a][b])).collect(),
            )
        })
        .collect();
    let upgrades: BTreeMap<String, Vec<String>> = [
        ("ET5", &["ET5T", "ET7"][..]),
        ("ET5T", &["ET7"][..]),
        ("ES6", &["EC6", "ES7", "ES8"][..]),
        ("EC6", &["EC7"][..]),
        ("ET7", &[][..]),
        ("ES7", &["ES8"][..]),
        ("EC7", &[][..]),
        ("ES8", &[][..]),
    ]
    .iter()
    .map(|(m, u)| (m.to_string(), u.iter().map(|s| s.to_string()).collect()))
    .collect();

    let vw = vehicles.max(1).to_string().len().max(4);
    let mut cars = Vec::with_capacity(vehicles);
    for i in 0..vehicles {
        let start = match rng.pick(&[371, 108, 121]) {
            0 => h0,
            1 => h0 + 120,
            _ => h0 + 600,
        };
        let mut blocked = Vec::new();
        if rng.below(1000) < 85 {
            let from = h0 + rng.below((days * 24 * 60) as u64) as i64;
            let len = (4 + rng.below(33) as i64) * 60;
            blocked.push(Window {
                from: stamp(from),
                to: stamp(from + len),
            });
        }
        cars.push(Vehicle {
            id: format!("V{i:0vw$}"),
            model: MODELS[rng.pick(&CAR_MODEL_WEIGHT)].to_string(),
            station: STATIONS[rng.pick(&CAR_STATION_WEIGHT)].to_string(),
            available_from: stamp(start),
            blocked,
        });
    }
    let ow = orders.max(1).to_string().len().max(5);
    let mut list = Vec::with_capacity(orders);
    for i in 0..orders {
        let day = rng.below(days as u64) as i64;
        let hour = rng.pick(&HOUR_WEIGHT) as i64;
        let minute = 15 * rng.below(4) as i64;
        let pickup = h0 + day * 1440 + hour * 60 + minute;
        let ret = pickup + DURATION_HOURS[rng.pick(&DURATION_WEIGHT)] * 60;
        let ps = rng.pick(&ORDER_STATION_WEIGHT);
        // Three rentals in four come back where they started.
        let rs = if rng.below(4) < 3 {
            ps
        } else {
            rng.pick(&ORDER_STATION_WEIGHT)
        };
        list.push(Order {
            id: format!("O{i:0ow$}"),
            model: MODELS[rng.pick(&ORDER_MODEL_WEIGHT)].to_string(),
            pickup_station: STATIONS[ps].to_string(),
            pickup_at: stamp(pickup),
            return_station: STATIONS[rs].to_string(),
            return_at: stamp(ret),
        });
    }
    Instance {
        city: Some("SHA".to_string()),
        horizon_start: stamp(h0),
        horizon_end: stamp(h1),
        turnaround_minutes: 60,
        stations: STATIONS.iter().map(|s| s.to_string()).collect(),
        travel_minutes,
        upgrades,
        vehicles: cars,
        orders: list,
        previous_plan: None,
        frozen: None,
    }
}
