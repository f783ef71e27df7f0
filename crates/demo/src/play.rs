//! Playing the week: the set-up, the backlog week step by step in the order its facts
//! happened, the live days, the violation feeds, the claims and payments, the complaints; and
//! the latency samplers that watch another service for each command's effect.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context as _, anyhow};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use time::{Duration, OffsetDateTime};
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Status};

use rentops_proto::common::{CommandContext, Consistency, CoverTier, Money, PageRequest, VehicleModel};
use rentops_proto::complaint as cpb;
use rentops_proto::complaint::complaint_service_client::ComplaintServiceClient;
use rentops_proto::fleet as fpb;
use rentops_proto::fleet::fleet_service_client::FleetServiceClient;
use rentops_proto::order as opb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_proto::receivables as rpb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;

use crate::figures::{Figures, Hop};
use crate::rng::{Rng, request_id};
use crate::world::{self, Call, Car, Channel as Ch, Customer, Fate, STATIONS, TRAVEL, Week};
use crate::{CHINA, Endpoints, Settings};

/// How long the demo waits for one effect to show in another service before it gives up on it
/// (and reports the sample as not seen).
const PATIENCE: StdDuration = StdDuration::from_secs(30);
/// How often a sampler asks.
const POLL: StdDuration = StdDuration::from_millis(10);

pub(crate) fn ts(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}

pub(crate) fn from_ts(t: &Option<prost_types::Timestamp>) -> Option<OffsetDateTime> {
    t.as_ref()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
}

/// The first eight characters of an id, for references printed on documents.
fn short(id: &str) -> String {
    id.chars().filter(char::is_ascii_alphanumeric).take(8).collect()
}

fn cny(amount_fen: i64) -> Option<Money> {
    Some(Money {
        amount_fen,
        currency: "CNY".into(),
    })
}

fn station(i: usize) -> Option<opb::Location> {
    Some(opb::Location {
        place: Some(opb::location::Place::StationId(STATIONS[i % STATIONS.len()].id.into())),
    })
}

fn within(min_sequence: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence,
        timeout_ms: 10_000,
    })
}

fn page(token: String) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 500,
        page_token: token,
    })
}

/// Runs `call` again while the other service has not yet heard of what it names (a link, a
/// hire, an order): the services meet only through the log, so what one knows another learns a
/// moment later.
async fn patiently<T, F, Fut>(what: &str, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(s)
                if matches!(
                    s.code(),
                    Code::FailedPrecondition
                        | Code::NotFound
                        | Code::Unavailable
                        | Code::Aborted
                        | Code::DeadlineExceeded
                ) && Instant::now() < deadline =>
            {
                tokio::time::sleep(StdDuration::from_millis(50)).await;
            }
            Err(s) => return Err(anyhow!("{what}: {} ({:?})", s.message(), s.code())),
        }
    }
}

/// Polls `check` until it gives a value; the time from `since` to then, or `None` when it did
/// not show within [`PATIENCE`].
async fn sample<T, F, Fut>(since: Instant, mut check: F) -> (Option<StdDuration>, Option<T>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    loop {
        if let Some(v) = check().await {
            return (Some(since.elapsed()), Some(v));
        }
        if since.elapsed() > PATIENCE {
            return (None, None);
        }
        tokio::time::sleep(POLL).await;
    }
}

#[derive(Clone)]
struct Clients {
    order: OrderServiceClient<Channel>,
    fleet: FleetServiceClient<Channel>,
    rx: ReceivablesServiceClient<Channel>,
    cp: ComplaintServiceClient<Channel>,
}

async fn connect(what: &str, addr: &str) -> anyhow::Result<Channel> {
    let endpoint = tonic::transport::Endpoint::try_from(addr.to_owned())
        .with_context(|| format!("--{what}-addr {addr:?} is not an address"))?
        .connect_timeout(StdDuration::from_secs(5));
    endpoint
        .connect()
        .await
        .with_context(|| format!("cannot reach the {what} service at {addr} (is the local cluster running?)"))
}

/// Waits for the claim of a damaged return: how long it took, and its id.
type ClaimWatch = JoinHandle<(Option<StdDuration>, Option<String>)>;

/// A live order: placed now for the days after the set-up.
struct Live {
    key: String,
    channel: Ch,
    customer: usize,
    model: VehicleModel,
    pickup_station: usize,
    return_station: usize,
    pickup_at: OffsetDateTime,
    return_at: OffsetDateTime,
    /// What the customer does: 0 keeps it, 1 changes it, 2 cancels it, 3 picks up early.
    plan: u8,
}

pub(crate) struct Demo {
    pub s: Settings,
    c: Clients,
    fleet: Vec<Car>,
    customers: Vec<Customer>,
    week: Week,
    pb: ProgressBar,
    /// The last sequence each service's commands answered (read-your-writes for the figures).
    seq: [u64; 4],
    order_ids: Vec<Option<String>>,
    live_ids: Vec<(usize, String)>,
    live: Vec<Live>,
    /// Damaged returns: order id, and the sampler that waits for the claim.
    claims: Vec<(String, ClaimWatch)>,
    samplers: Vec<(Hop, JoinHandle<Option<StdDuration>>)>,
    pub hops: BTreeMap<Hop, (Vec<StdDuration>, u32)>,
    /// Violations the demo can name (for complaints about them): id and customer.
    violations: Vec<(String, String, String)>,
    pub case_ids: Vec<String>,
    pub authority_refs: BTreeSet<String>,
    pub imports: Vec<rpb::ImportSummary>,
    pub breakdown_note: Option<String>,
    pub replan_note: Option<String>,
    pub live_from: OffsetDateTime,
    /// The offences of the live hires (indices into the week's offences).
    live_offences: Vec<usize>,
}

const ORDER: usize = 0;
const FLEET: usize = 1;
const RX: usize = 2;
const CP: usize = 3;

impl Demo {
    pub async fn connect(s: &Settings, e: &Endpoints) -> anyhow::Result<Demo> {
        let c = Clients {
            order: OrderServiceClient::new(connect("order", &e.order).await?),
            fleet: FleetServiceClient::new(connect("fleet", &e.fleet).await?),
            rx: ReceivablesServiceClient::new(connect("receivables", &e.receivables).await?),
            cp: ComplaintServiceClient::new(connect("complaint", &e.complaint).await?),
        };
        let fleet = world::fleet(&s.city, s.cars);
        let customers = world::customers(s.seed, (s.cars as usize * 2).max(16));
        let week = world::week(s.seed, &s.city, s.week_start, &fleet, customers.len());
        let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{prefix:>12} [{bar:32}] {pos}/{len} {msg}") {
            pb.set_style(style.progress_chars("=> "));
        }
        let n = week.orders.len();
        Ok(Demo {
            s: Settings {
                seed: s.seed,
                cars: s.cars,
                city: s.city.clone(),
                week_start: s.week_start,
                actor: s.actor.clone(),
            },
            c,
            fleet,
            customers,
            week,
            pb,
            seq: [0; 4],
            order_ids: vec![None; n],
            live_ids: Vec::new(),
            live: Vec::new(),
            claims: Vec::new(),
            samplers: Vec::new(),
            hops: BTreeMap::new(),
            violations: Vec::new(),
            case_ids: Vec::new(),
            authority_refs: BTreeSet::new(),
            imports: Vec::new(),
            breakdown_note: None,
            replan_note: None,
            live_from: OffsetDateTime::UNIX_EPOCH,
            live_offences: Vec::new(),
        })
    }

    /// When the fleet joined: a week before the backlog week, at 09:00.
    fn joined(&self) -> OffsetDateTime {
        self.s.week_start - Duration::days(7) + Duration::hours(9)
    }

    fn ctx(&self, step: &str) -> Option<CommandContext> {
        Some(CommandContext {
            request_id: request_id(self.s.seed, &format!("{}:{step}", self.s.city)),
            actor: self.s.actor.clone(),
            correlation_id: String::new(),
        })
    }

    fn phase(&self, name: &str, len: u64) {
        self.pb.set_prefix(name.to_owned());
        self.pb.set_length(len);
        self.pb.set_position(0);
        if self.pb.is_hidden() {
            eprintln!("demo: {name} ({len} steps)");
        }
    }

    fn saw(&mut self, service: usize, result: &rentops_proto::common::CommandResult) {
        self.seq[service] = self.seq[service].max(result.sequence);
    }

    pub async fn play(&mut self) -> anyhow::Result<()> {
        self.setup().await?;
        self.backlog().await?;
        self.live_days().await?;
        self.violations().await?;
        self.claims().await?;
        self.complaints().await?;
        self.phase("measuring", self.samplers.len() as u64);
        for (hop, handle) in std::mem::take(&mut self.samplers) {
            let got = handle.await.unwrap_or(None);
            let entry = self.hops.entry(hop).or_default();
            match got {
                Some(d) => entry.0.push(d),
                None => entry.1 += 1,
            }
            self.pb.inc(1);
        }
        self.pb.finish_and_clear();
        Ok(())
    }

    fn sampler(&mut self, hop: Hop, handle: JoinHandle<Option<StdDuration>>) {
        self.samplers.push((hop, handle));
    }

    // ---- set-up ---------------------------------------------------------------------------

    async fn setup(&mut self) -> anyhow::Result<()> {
        let city = self.s.city.clone();
        let drivers = (self.s.cars / 10).max(2);
        self.phase("set-up", 6 + u64::from(self.s.cars) + u64::from(drivers) * 5);
        let mut fc = self.c.fleet.clone();
        let r = fc
            .configure_city(fpb::ConfigureCityRequest {
                context: self.ctx("city"),
                city: city.clone(),
                name: if city == "SHA" { "上海".into() } else { city.clone() },
                default_station: String::new(),
                delivery_minutes: 30,
                frozen_window_minutes: None,
            })
            .await
            .context("configuring the city")?
            .into_inner();
        self.saw(FLEET, &r);
        self.pb.inc(1);
        for (i, st) in STATIONS.iter().enumerate() {
            let r = fc
                .add_station(fpb::AddStationRequest {
                    context: self.ctx(&format!("station:{}", st.id)),
                    city: city.clone(),
                    station_id: st.id.into(),
                    name: st.name.into(),
                    districts: vec![format!("D{i}")],
                })
                .await
                .with_context(|| format!("adding station {}", st.id))?
                .into_inner();
            self.saw(FLEET, &r);
        }
        // The default station can only name a station the city has.
        let r = fc
            .configure_city(fpb::ConfigureCityRequest {
                context: self.ctx("city-default-station"),
                city: city.clone(),
                name: if city == "SHA" { "上海".into() } else { city.clone() },
                default_station: STATIONS[0].id.into(),
                delivery_minutes: 30,
                frozen_window_minutes: None,
            })
            .await
            .context("setting the city's default station")?
            .into_inner();
        self.saw(FLEET, &r);
        self.pb.inc(1);
        let r = fc
            .set_travel_times(fpb::SetTravelTimesRequest {
                context: self.ctx("travel"),
                city: city.clone(),
                times: TRAVEL
                    .iter()
                    .map(|&(a, b, m)| fpb::TravelTime {
                        from_station: STATIONS[a].id.into(),
                        to_station: STATIONS[b].id.into(),
                        minutes: m,
                    })
                    .collect(),
                symmetric: true,
            })
            .await
            .context("setting the travel times")?
            .into_inner();
        self.saw(FLEET, &r);
        self.pb.inc(1);
        let r = fc
            .set_turnaround(fpb::SetTurnaroundRequest {
                context: self.ctx("turnaround"),
                city: city.clone(),
                minutes: 45,
                low_charge_below_percent: Some(30),
                low_charge_extra_minutes: Some(60),
            })
            .await
            .context("setting the turnaround")?
            .into_inner();
        self.saw(FLEET, &r);
        self.pb.inc(2);
        for i in 0..self.fleet.len() {
            let car = &self.fleet[i];
            let request = fpb::RegisterVehicleRequest {
                context: self.ctx(&format!("vehicle:{}", car.vehicle_id)),
                vehicle_id: car.vehicle_id.clone(),
                vin: car.vin.clone(),
                plate: car.plate.clone(),
                model: car.model as i32,
                city: city.clone(),
                home_station: STATIONS[car.home].id.into(),
                // The fleet joined a week before the backlog week: its plates' history covers
                // every hire of that week.
                registered_at: Some(ts(self.joined())),
            };
            let r = fc
                .register_vehicle(request)
                .await
                .with_context(|| format!("registering {}", self.fleet[i].vehicle_id))?
                .into_inner();
            self.saw(FLEET, &r);
            self.pb.inc(1);
        }
        // The live days start at the hour after the fleet joined, as the plate registry
        // remembers it, moved on by whole days to the last such hour not after now: a second
        // run on the same day finds the same hour, so it sends the same orders.
        let history = fc
            .get_plate_history(fpb::GetPlateHistoryRequest {
                plate: self.fleet[0].plate.clone(),
                at: None,
                consistency: within(self.seq[FLEET]),
            })
            .await
            .context("reading the first car's plate history")?
            .into_inner();
        let registered = history
            .carriers
            .first()
            .and_then(|c| from_ts(&c.from))
            .ok_or_else(|| anyhow!("fleet does not show when {} was registered", self.fleet[0].plate))?;
        // A run on a fleet registered days before moves on by whole days, to the last such hour
        // not after now: runs within the same day send the same live orders, and their pickups
        // (a day after it and more) are still ahead.
        let mut hour = registered.unix_timestamp().div_euclid(3600) * 3600 + 3600;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if now > hour {
            hour += (now - hour).div_euclid(86_400) * 86_400;
        }
        self.live_from = OffsetDateTime::from_unix_timestamp(hour)
            .map_err(|e| anyhow!("the live days' start: {e}"))?
            .to_offset(CHINA);
        // Drivers, with day shifts over the live days.
        let first_day = self.live_from.to_offset(CHINA).date();
        for d in 0..drivers {
            let driver_id = format!("{city}-DR{:02}", d + 1);
            let customer = &self.customers[d as usize % self.customers.len()];
            let r = fc
                .register_driver(fpb::RegisterDriverRequest {
                    context: self.ctx(&format!("driver:{driver_id}")),
                    driver_id: driver_id.clone(),
                    name: format!("{}师傅", customer.name.chars().next().unwrap_or('李')),
                    phone: customer.phone.replace("+86 13", "+86 15"),
                    city: city.clone(),
                })
                .await
                .with_context(|| format!("registering driver {driver_id}"))?
                .into_inner();
            self.saw(FLEET, &r);
            self.pb.inc(1);
            for day in 0..4 {
                let date = first_day + Duration::days(day);
                let from = date.midnight().assume_offset(CHINA) + Duration::hours(7 + i64::from(d % 3) * 2);
                let shift_id = format!("{}-{}", driver_id, date);
                let r = fc
                    .schedule_shift(fpb::ScheduleShiftRequest {
                        context: self.ctx(&format!("shift:{shift_id}")),
                        driver_id: driver_id.clone(),
                        shift_id: shift_id.clone(),
                        from: Some(ts(from)),
                        to: Some(ts(from + Duration::hours(10))),
                        station: STATIONS[d as usize % STATIONS.len()].id.into(),
                    })
                    .await
                    .with_context(|| format!("scheduling shift {shift_id}"))?
                    .into_inner();
                self.saw(FLEET, &r);
                self.pb.inc(1);
            }
        }
        Ok(())
    }

    // ---- the backlog week -----------------------------------------------------------------

    async fn backlog(&mut self) -> anyhow::Result<()> {
        #[derive(Clone, Copy)]
        enum S {
            Place,
            Call(usize),
            Confirm,
            Cancel,
            Pickup,
            Breakdown,
            Swap,
            Repair,
            Return,
            Complete,
            NoShow,
        }
        let mut steps: Vec<(OffsetDateTime, usize, u8, S)> = Vec::new();
        for (i, o) in self.week.orders.iter().enumerate() {
            steps.push((o.placed_at, i, 0, S::Place));
            for (k, (at, _)) in o.calls.iter().enumerate() {
                steps.push((*at, i, 1, S::Call(k)));
            }
            let reached = o
                .calls
                .iter()
                .find(|(_, c)| matches!(c, Call::Reached))
                .map(|(at, _)| *at);
            match o.fate {
                Fate::Hired | Fate::NoShow | Fate::CustomerCancelled => {
                    if let Some(at) = reached {
                        steps.push((at, i, 2, S::Confirm));
                    }
                }
                _ => {}
            }
            match o.fate {
                Fate::CustomerCancelled => steps.push((o.pickup_at - Duration::hours(3), i, 3, S::Cancel)),
                Fate::ChannelCancelled => steps.push((o.placed_at + Duration::hours(1), i, 3, S::Cancel)),
                Fate::NoShow => steps.push((o.pickup_at + Duration::hours(2), i, 3, S::NoShow)),
                Fate::Lapsed => steps.push((o.pickup_at + Duration::hours(3), i, 3, S::NoShow)),
                Fate::Hired => {}
            }
            if let Some(h) = &o.hire {
                steps.push((h.picked_up_at, i, 4, S::Pickup));
                if let Some(s) = &h.swap {
                    steps.push((s.broke_at, i, 5, S::Breakdown));
                    steps.push((s.swapped_at, i, 6, S::Swap));
                    steps.push((s.repaired_at, i, 7, S::Repair));
                }
                steps.push((h.returned_at, i, 8, S::Return));
                steps.push((h.returned_at + Duration::minutes(30), i, 9, S::Complete));
            }
        }
        steps.sort_by_key(|(at, i, k, _)| (*at, *i, *k));
        self.phase("backlog week", steps.len() as u64);
        let now = OffsetDateTime::now_utc();
        for (at, i, _, step) in steps {
            let at = at.min(now);
            match step {
                S::Place => self.place(i).await?,
                S::Call(k) => self.call(i, k).await?,
                S::Confirm => {
                    let id = self.order_id(i)?;
                    let r = self
                        .c
                        .order
                        .clone()
                        .confirm_order(opb::ConfirmOrderRequest {
                            context: self.ctx(&format!("confirm:{}", self.week.orders[i].key)),
                            order_id: id,
                            notes: "客户确认取车时间与车型".into(),
                        })
                        .await
                        .with_context(|| format!("confirming {}", self.week.orders[i].key))?
                        .into_inner();
                    self.saw(ORDER, &r);
                }
                S::Cancel => {
                    let o = &self.week.orders[i];
                    let (by, reason) = if o.fate == Fate::ChannelCancelled {
                        (opb::CancelledBy::Channel, "渠道方取消订单")
                    } else {
                        (opb::CancelledBy::Customer, "客户行程变更，取消用车")
                    };
                    let id = self.order_id(i)?;
                    let r = self
                        .c
                        .order
                        .clone()
                        .cancel_order(opb::CancelOrderRequest {
                            context: self.ctx(&format!("cancel:{}", o.key)),
                            order_id: id,
                            cancelled_by: by as i32,
                            reason: reason.into(),
                        })
                        .await
                        .with_context(|| format!("cancelling {}", o.key))?
                        .into_inner();
                    self.saw(ORDER, &r);
                }
                S::NoShow => {
                    let o = &self.week.orders[i];
                    let id = self.order_id(i)?;
                    let r = self
                        .c
                        .order
                        .clone()
                        .mark_no_show(opb::MarkNoShowRequest {
                            context: self.ctx(&format!("no-show:{}", o.key)),
                            order_id: id,
                            notes: if o.fate == Fate::Lapsed {
                                "始终未联系上客户，取车时间已过".into()
                            } else {
                                "客户未到店取车".into()
                            },
                        })
                        .await
                        .with_context(|| format!("closing {} as a no-show", o.key))?
                        .into_inner();
                    self.saw(ORDER, &r);
                }
                S::Pickup => self.pickup(i, at).await?,
                S::Breakdown => self.breakdown(i, at).await?,
                S::Swap => self.swap(i, at).await?,
                S::Repair => self.repair(i, at).await?,
                S::Return => self.return_(i, at).await?,
                S::Complete => {
                    let o = &self.week.orders[i];
                    let id = self.order_id(i)?;
                    let r = self
                        .c
                        .order
                        .clone()
                        .complete_order(opb::CompleteOrderRequest {
                            context: self.ctx(&format!("complete:{}", o.key)),
                            order_id: id,
                        })
                        .await
                        .with_context(|| format!("completing {}", o.key))?
                        .into_inner();
                    self.saw(ORDER, &r);
                }
            }
            self.pb.inc(1);
        }
        Ok(())
    }

    fn order_id(&self, i: usize) -> anyhow::Result<String> {
        self.order_ids
            .get(i)
            .cloned()
            .flatten()
            .ok_or_else(|| anyhow!("order {i} of the week was not placed"))
    }

    fn channel_fields(channel: Ch) -> (i32, String) {
        match channel {
            Ch::App => (opb::Channel::App as i32, String::new()),
            Ch::MiniProgram => (opb::Channel::MiniProgram as i32, String::new()),
            Ch::Web => (opb::Channel::Web as i32, String::new()),
            Ch::CallCenter => (opb::Channel::CallCenter as i32, String::new()),
            Ch::Partner(p) => (opb::Channel::Partner as i32, p.to_owned()),
        }
    }

    fn customer(&self, i: usize) -> opb::Customer {
        let c = &self.customers[i % self.customers.len()];
        opb::Customer {
            customer_id: c.id.clone(),
            name: c.name.clone(),
            phone: c.phone.clone(),
        }
    }

    async fn place(&mut self, i: usize) -> anyhow::Result<()> {
        let o = &self.week.orders[i];
        let (channel, partner_code) = Self::channel_fields(o.channel);
        let request = opb::PlaceOrderRequest {
            context: self.ctx(&format!("place:{}", o.key)),
            channel,
            partner_code,
            channel_order_ref: format!("{}-{}", o.channel.code(), o.key),
            customer: Some(self.customer(o.customer)),
            city: self.s.city.clone(),
            pickup_location: station(o.pickup_station),
            pickup_at: Some(ts(o.pickup_at)),
            return_location: station(o.return_station),
            return_at: Some(ts(o.return_at)),
            requested_model: o.model as i32,
            add_ons: if o.price_fen % 3 == 0 {
                vec!["child_seat".into()]
            } else {
                vec![]
            },
            price: cny(o.price_fen),
            rental_deposit: cny(500_000),
            violation_deposit: cny(200_000),
            notes: String::new(),
            placed_at: Some(ts(o.placed_at)),
            cover_tier: if o.full_cover {
                CoverTier::Full
            } else {
                CoverTier::Basic
            } as i32,
        };
        let key = o.key.clone();
        let r = self
            .c
            .order
            .clone()
            .place_order(request)
            .await
            .with_context(|| format!("placing {key}"))?
            .into_inner();
        self.seq[ORDER] = self.seq[ORDER].max(r.sequence);
        self.order_ids[i] = Some(r.order_id);
        Ok(())
    }

    async fn call(&mut self, i: usize, k: usize) -> anyhow::Result<()> {
        let o = &self.week.orders[i];
        let Some((at, call)) = o.calls.get(k).copied() else {
            return Ok(());
        };
        let (outcome, call_back_at, notes) = match call {
            Call::NoAnswer => (opb::ContactOutcome::NoAnswer, None, "无人接听"),
            Call::WrongNumber => (opb::ContactOutcome::WrongNumber, None, "号码错误，已请渠道核实"),
            Call::Later(t) => (
                opb::ContactOutcome::CallBackLater,
                Some(ts(t)),
                "客户在开会，约定稍后回电",
            ),
            Call::Reached => (opb::ContactOutcome::Reached, None, "已确认取车时间、地点与车型"),
        };
        let id = self.order_id(i)?;
        let r = self
            .c
            .order
            .clone()
            .record_contact_attempt(opb::RecordContactAttemptRequest {
                context: self.ctx(&format!("call:{}:{k}", o.key)),
                order_id: id,
                outcome: outcome as i32,
                notes: notes.into(),
                call_back_at,
                attempted_at: Some(ts(at)),
            })
            .await
            .with_context(|| format!("recording call {k} of {}", o.key))?
            .into_inner();
        self.saw(ORDER, &r);
        Ok(())
    }

    async fn pickup(&mut self, i: usize, at: OffsetDateTime) -> anyhow::Result<()> {
        let o = &self.week.orders[i];
        let Some(h) = &o.hire else { return Ok(()) };
        let car = &self.fleet[o.car];
        let id = self.order_id(i)?;
        let r = self
            .c
            .order
            .clone()
            .record_pickup(opb::RecordPickupRequest {
                context: self.ctx(&format!("pickup:{}", o.key)),
                order_id: id,
                vehicle_id: car.vehicle_id.clone(),
                plate: car.plate.clone(),
                odometer_km: h.odometer_out,
                charge_percent: h.charge_out,
                damage_noted: String::new(),
                picked_up_at: Some(ts(at)),
            })
            .await
            .with_context(|| format!("recording the pickup of {}", o.key))?
            .into_inner();
        self.saw(ORDER, &r);
        Ok(())
    }

    async fn breakdown(&mut self, i: usize, at: OffsetDateTime) -> anyhow::Result<()> {
        let o = &self.week.orders[i];
        let Some(s) = o.hire.as_ref().and_then(|h| h.swap.as_ref()) else {
            return Ok(());
        };
        let car = self.fleet[o.car].vehicle_id.clone();
        let order_id = self.order_id(i)?;
        // Fleet learns of the hire from the order stream: the breakdown is booked to the hire
        // only once it knows the car is out (a second run sends the breakdown it sent before).
        // A retried command is answered as it was the first time (its events counted again),
        // so what is new is read from the order itself: still on hire, no swap yet.
        let o_now = self.get_order(&order_id).await?;
        let fresh = o_now.status == opb::OrderStatus::PickedUp as i32 && o_now.swaps.is_empty();
        let o = &self.week.orders[i];
        let fc = self.c.fleet.clone();
        let (seen, _) = sample(Instant::now(), || {
            let (mut fc, car, order_id) = (fc.clone(), car.clone(), order_id.clone());
            async move {
                let v = fc
                    .get_vehicle(fpb::GetVehicleRequest {
                        vehicle_id: car,
                        consistency: None,
                    })
                    .await
                    .ok()?
                    .into_inner();
                (!fresh || v.on_hire_order_id == order_id || v.state == fpb::VehicleState::Breakdown as i32)
                    .then_some(())
            }
        })
        .await;
        if seen.is_none() {
            return Err(anyhow!("fleet did not show {car} on hire for {} within 30 s", o.key));
        }
        let r = self
            .c
            .fleet
            .clone()
            .report_breakdown(fpb::ReportBreakdownRequest {
                context: self.ctx(&format!("breakdown:{}", o.key)),
                vehicle_id: car.clone(),
                at: Some(ts(at)),
                station_or_address: "G60沪昆高速 松江段".into(),
                severity: fpb::Severity::Major as i32,
                expected_repair_until: Some(ts(s.repaired_at)),
                description: "仪表报高压系统故障，车辆无法行驶".into(),
            })
            .await;
        match r {
            Ok(r) => self.saw(FLEET, &r.into_inner()),
            // A second run: the car is broken already, from the first one.
            Err(e) if e.code() == Code::FailedPrecondition => {}
            Err(e) => return Err(anyhow!("reporting the breakdown of {car}: {}", e.message())),
        }
        Ok(())
    }

    async fn swap(&mut self, i: usize, at: OffsetDateTime) -> anyhow::Result<()> {
        let o = &self.week.orders[i];
        let Some(s) = o.hire.as_ref().and_then(|h| h.swap.as_ref()) else {
            return Ok(());
        };
        let from = &self.fleet[o.car];
        let to = &self.fleet[s.replacement];
        let id = self.order_id(i)?;
        let r = self
            .c
            .order
            .clone()
            .record_swap(opb::RecordSwapRequest {
                context: self.ctx(&format!("swap:{}", o.key)),
                order_id: id,
                swapped_at: Some(ts(at)),
                location: None,
                from_vehicle_id: from.vehicle_id.clone(),
                from_odometer_km: s.from_odometer,
                from_charge_percent: s.from_charge,
                vehicle_id: to.vehicle_id.clone(),
                plate: to.plate.clone(),
                odometer_km: s.replacement_odometer,
                charge_percent: 95,
                reason: "breakdown".into(),
                notes: "救援车送达替换车辆".into(),
            })
            .await
            .with_context(|| format!("recording the swap of {}", o.key))?
            .into_inner();
        self.saw(ORDER, &r);
        Ok(())
    }

    async fn repair(&mut self, i: usize, at: OffsetDateTime) -> anyhow::Result<()> {
        let o = &self.week.orders[i];
        let car = self.fleet[o.car].vehicle_id.clone();
        let r = self
            .c
            .fleet
            .clone()
            .complete_repair(fpb::CompleteRepairRequest {
                context: self.ctx(&format!("repair:{}", o.key)),
                vehicle_id: car.clone(),
                station: STATIONS[self.fleet[o.car].home].id.into(),
                notes: "更换高压接触器，检测合格".into(),
                at: Some(ts(at)),
            })
            .await;
        match r {
            Ok(r) => self.saw(FLEET, &r.into_inner()),
            Err(e) if e.code() == Code::FailedPrecondition => {}
            Err(e) => return Err(anyhow!("completing the repair of {car}: {}", e.message())),
        }
        Ok(())
    }

    async fn return_(&mut self, i: usize, at: OffsetDateTime) -> anyhow::Result<()> {
        let o = &self.week.orders[i];
        let Some(h) = &o.hire else { return Ok(()) };
        let id = self.order_id(i)?;
        let damage = h.damage.unwrap_or_default().to_owned();
        let fresh = !damage.is_empty() && self.get_order(&id).await?.status == opb::OrderStatus::PickedUp as i32;
        let o = &self.week.orders[i];
        let Some(h) = &o.hire else { return Ok(()) };
        let r = self
            .c
            .order
            .clone()
            .record_return(opb::RecordReturnRequest {
                context: self.ctx(&format!("return:{}", o.key)),
                order_id: id.clone(),
                return_location: station(o.return_station),
                odometer_km: h.odometer_in,
                charge_percent: h.charge_in,
                damage_noted: damage.clone(),
                returned_at: Some(ts(at)),
            })
            .await
            .with_context(|| format!("recording the return of {}", o.key))?
            .into_inner();
        self.saw(ORDER, &r);
        if !damage.is_empty() {
            self.watch_claim(id, fresh);
        }
        Ok(())
    }

    /// Waits (in the background) for receivables to open the claim of a damaged return; the
    /// wait is a latency sample when the return was new.
    fn watch_claim(&mut self, order_id: String, fresh: bool) {
        let since = Instant::now();
        let rx = self.c.rx.clone();
        let id = order_id.clone();
        let handle = tokio::spawn(async move {
            sample(since, || {
                let (mut rx, id) = (rx.clone(), id.clone());
                async move {
                    let claims = rx
                        .list_claims(rpb::ListClaimsRequest {
                            order_id: id,
                            ..Default::default()
                        })
                        .await
                        .ok()?
                        .into_inner()
                        .claims;
                    claims.first().map(|c| c.claim_id.clone())
                }
            })
            .await
        });
        if fresh {
            self.claims.push((order_id, handle));
        } else {
            // A repeat: the claim is there already; wait for it, but it is no sample.
            self.claims.push((format!("repeat:{order_id}"), handle));
        }
    }

    // ---- the live days --------------------------------------------------------------------

    async fn live_days(&mut self) -> anyhow::Result<()> {
        let mut rng = Rng::new(
            self.s.seed,
            &format!("live:{}:{}", self.s.city, self.live_from.unix_timestamp()),
        );
        let count = (self.s.cars as usize / 8).max(4);
        let regular: Vec<usize> = (0..self.fleet.len()).filter(|&i| !self.fleet[i].spare).collect();
        for n in 0..count {
            let car = rng.pick(&regular).copied().unwrap_or(0);
            let pickup_at = self.live_from + Duration::minutes(rng.range(26 * 6, 50 * 6) * 10);
            let hours = [6, 10, 24, 48][rng.weighted(&[25, 25, 35, 15])];
            self.live.push(Live {
                key: format!(
                    "L{}-{}-{:x}-{n:03}",
                    self.s.seed,
                    self.s.city,
                    self.live_from.unix_timestamp() / 3600
                ),
                channel: Ch::draw(&mut rng),
                customer: rng.range(0, self.customers.len() as i64 - 1) as usize,
                model: self.fleet[car].model,
                pickup_station: self.fleet[car].home,
                return_station: rng.range(0, STATIONS.len() as i64 - 1) as usize,
                pickup_at,
                return_at: pickup_at + Duration::hours(hours),
                plan: [0u8, 1, 2, 3][rng.weighted(&[45, 20, 10, 25])],
            });
        }
        // At least two early pickups, so the live violation and the damaged return have a hire.
        for k in 0..self.live.len().min(2) {
            self.live[k].plan = 3;
        }
        // And one kept for its day, for the breakdown before pickup.
        if let Some(l) = self.live.get_mut(2) {
            l.plan = 0;
        }
        self.phase("live days", self.live.len() as u64 * 4 + 2);
        for n in 0..self.live.len() {
            let l = &self.live[n];
            let (channel, partner_code) = Self::channel_fields(l.channel);
            let request = opb::PlaceOrderRequest {
                context: self.ctx(&format!("place:{}", l.key)),
                channel,
                partner_code,
                channel_order_ref: format!("{}-{}", l.channel.code(), l.key),
                customer: Some(self.customer(l.customer)),
                city: self.s.city.clone(),
                pickup_location: station(l.pickup_station),
                pickup_at: Some(ts(l.pickup_at)),
                return_location: station(l.return_station),
                return_at: Some(ts(l.return_at)),
                requested_model: l.model as i32,
                price: cny(38_000),
                rental_deposit: cny(500_000),
                violation_deposit: cny(200_000),
                cover_tier: CoverTier::Basic as i32,
                ..Default::default()
            };
            let key = l.key.clone();
            let placed = self
                .c
                .order
                .clone()
                .place_order(request)
                .await
                .with_context(|| format!("placing {key}"))?
                .into_inner();
            self.seq[ORDER] = self.seq[ORDER].max(placed.sequence);
            let id = placed.order_id.clone();
            // Only a confirmation this run makes is a sample (a retry is answered as the first).
            // Not one the customer cancels at once: fleet may never plan it.
            let fresh = self.get_order(&id).await?.status == opb::OrderStatus::Placed as i32 && self.live[n].plan != 2;
            let r = self
                .c
                .order
                .clone()
                .record_contact_attempt(opb::RecordContactAttemptRequest {
                    context: self.ctx(&format!("call:{key}:0")),
                    order_id: id.clone(),
                    outcome: opb::ContactOutcome::Reached as i32,
                    notes: "已确认需求：儿童座椅、快充".into(),
                    ..Default::default()
                })
                .await;
            // A second run a day later finds the order's pickup past: the call was made.
            match r {
                Ok(r) => self.saw(ORDER, &r.into_inner()),
                Err(e) if e.code() == Code::FailedPrecondition => {}
                Err(e) => return Err(anyhow!("calling {key}: {}", e.message())),
            }
            let r = self
                .c
                .order
                .clone()
                .confirm_order(opb::ConfirmOrderRequest {
                    context: self.ctx(&format!("confirm:{key}")),
                    order_id: id.clone(),
                    notes: String::new(),
                })
                .await;
            let since = Instant::now();
            match r {
                Ok(r) => {
                    let r = r.into_inner();
                    self.saw(ORDER, &r);
                    if fresh {
                        self.watch_assignment(id.clone(), r.sequence, since);
                    }
                }
                Err(e) if e.code() == Code::FailedPrecondition => {}
                Err(e) => return Err(anyhow!("confirming {key}: {}", e.message())),
            }
            self.live_ids.push((n, id));
            self.pb.inc(3);
        }
        // Changes and cancellations, each making fleet plan again.
        for k in 0..self.live_ids.len() {
            let (n, id) = self.live_ids[k].clone();
            let l = &self.live[n];
            let result = match l.plan {
                1 => {
                    self.c
                        .order
                        .clone()
                        .change_order(opb::ChangeOrderRequest {
                            context: self.ctx(&format!("change:{}", l.key)),
                            order_id: id,
                            return_at: Some(ts(l.return_at + Duration::hours(4))),
                            reason: "客户延长用车四小时".into(),
                            ..Default::default()
                        })
                        .await
                }
                2 => {
                    self.c
                        .order
                        .clone()
                        .cancel_order(opb::CancelOrderRequest {
                            context: self.ctx(&format!("cancel:{}", l.key)),
                            order_id: id,
                            cancelled_by: opb::CancelledBy::Customer as i32,
                            reason: "航班取消".into(),
                        })
                        .await
                }
                _ => continue,
            };
            match result {
                Ok(r) => self.saw(ORDER, &r.into_inner()),
                Err(e) if e.code() == Code::FailedPrecondition => {}
                Err(e) => return Err(anyhow!("changing {}: {}", self.live[n].key, e.message())),
            }
        }
        self.pb.inc(1);
        // The assignments the confirmations brought (waited for here: the pickups need them).
        let pending: Vec<(Hop, JoinHandle<Option<StdDuration>>)> = std::mem::take(&mut self.samplers);
        for (hop, handle) in pending {
            let got = handle.await.unwrap_or(None);
            let entry = self.hops.entry(hop).or_default();
            match got {
                Some(d) => entry.0.push(d),
                None => entry.1 += 1,
            }
        }
        self.live_breakdown().await?;
        self.live_hires().await?;
        self.pb.inc(1);
        Ok(())
    }

    fn watch_assignment(&mut self, order_id: String, sequence: u64, since: Instant) {
        let oc = self.c.order.clone();
        let handle = tokio::spawn(async move {
            sample(since, || {
                let (mut oc, id) = (oc.clone(), order_id.clone());
                async move {
                    let o = oc
                        .get_order(opb::GetOrderRequest {
                            order_id: id,
                            as_of: None,
                            consistency: within(sequence),
                        })
                        .await
                        .ok()?
                        .into_inner()
                        .order?;
                    (!o.assigned_vehicle_id.is_empty() || o.at_risk).then_some(())
                }
            })
            .await
            .0
        });
        self.sampler(Hop::ConfirmToCar, handle);
    }

    async fn get_order(&self, id: &str) -> anyhow::Result<opb::Order> {
        self.c
            .order
            .clone()
            .get_order(opb::GetOrderRequest {
                order_id: id.into(),
                as_of: None,
                consistency: within(self.seq[ORDER]),
            })
            .await
            .with_context(|| format!("reading order {id}"))?
            .into_inner()
            .order
            .ok_or_else(|| anyhow!("order {id} is not there"))
    }

    /// A car assigned to a kept live order breaks down before its hire; fleet plans around it.
    /// Only once per cluster and city: a second run finds a car of the city broken already.
    async fn live_breakdown(&mut self) -> anyhow::Result<()> {
        let broken = self
            .c
            .fleet
            .clone()
            .list_vehicles(fpb::ListVehiclesRequest {
                city: self.s.city.clone(),
                states: vec![fpb::VehicleState::Breakdown as i32],
                consistency: within(self.seq[FLEET]),
                page: page(String::new()),
                ..Default::default()
            })
            .await
            .context("listing broken cars")?
            .into_inner()
            .vehicles;
        if let Some(v) = broken.first() {
            self.breakdown_note = Some(format!("{} broke down before its hire and is in repair", v.vehicle_id));
            return Ok(());
        }
        let mut target = None;
        for (n, id) in &self.live_ids {
            if self.live[*n].plan != 0 {
                continue;
            }
            let o = self.get_order(id).await?;
            if !o.assigned_vehicle_id.is_empty() && o.status == opb::OrderStatus::Confirmed as i32 {
                target = Some((id.clone(), o.assigned_vehicle_id.clone()));
                break;
            }
        }
        let Some((order_id, car)) = target else {
            self.breakdown_note = Some("no kept live order had a car to break down".into());
            return Ok(());
        };
        let at = self
            .c
            .fleet
            .clone()
            .get_vehicle(fpb::GetVehicleRequest {
                vehicle_id: car.clone(),
                consistency: None,
            })
            .await
            .with_context(|| format!("reading {car}"))?
            .into_inner()
            .station;
        let r = self
            .c
            .fleet
            .clone()
            .report_breakdown(fpb::ReportBreakdownRequest {
                context: self.ctx(&format!("live-breakdown:{car}")),
                vehicle_id: car.clone(),
                at: None,
                station_or_address: at,
                severity: fpb::Severity::Major as i32,
                expected_repair_until: Some(ts(self.live_from + Duration::days(4))),
                description: "充电口故障，无法充电".into(),
            })
            .await
            .with_context(|| format!("reporting the breakdown of {car}"))?
            .into_inner();
        self.saw(FLEET, &r);
        let since = Instant::now();
        let oc = self.c.order.clone();
        let (took, o) = sample(since, || {
            let (mut oc, id, car) = (oc.clone(), order_id.clone(), car.clone());
            async move {
                let o = oc
                    .get_order(opb::GetOrderRequest {
                        order_id: id,
                        as_of: None,
                        consistency: None,
                    })
                    .await
                    .ok()?
                    .into_inner()
                    .order?;
                (o.assigned_vehicle_id != car || o.at_risk).then_some(o)
            }
        })
        .await;
        let entry = self.hops.entry(Hop::BreakdownToReplan).or_default();
        match took {
            Some(d) => entry.0.push(d),
            None => entry.1 += 1,
        }
        self.breakdown_note = Some(format!("{car} broke down before its hire and is in repair"));
        self.replan_note = Some(match o {
            Some(o) if o.at_risk => format!("fleet re-planned: its order is at risk ({})", o.at_risk_reason),
            Some(o) if !o.assigned_vehicle_id.is_empty() => {
                format!("fleet re-planned: its order now has {}", o.assigned_vehicle_id)
            }
            _ => "its order was not re-planned within 30 s".into(),
        });
        Ok(())
    }

    /// A few live orders are handed over early (now): one comes back damaged at once, one
    /// gets a violation during its hire.
    async fn live_hires(&mut self) -> anyhow::Result<()> {
        let mut hired = 0usize;
        for k in 0..self.live_ids.len() {
            let (n, id) = self.live_ids[k].clone();
            if self.live[n].plan != 3 {
                continue;
            }
            let o = self.get_order(&id).await?;
            let key = self.live[n].key.clone();
            let (vehicle_id, plate) = if let Some(p) = &o.pickup {
                (p.vehicle_id.clone(), p.plate.clone())
            } else if o.status == opb::OrderStatus::Confirmed as i32 && !o.assigned_vehicle_id.is_empty() {
                (o.assigned_vehicle_id.clone(), o.assigned_plate.clone())
            } else {
                continue;
            };
            let v = self
                .c
                .fleet
                .clone()
                .get_vehicle(fpb::GetVehicleRequest {
                    vehicle_id: vehicle_id.clone(),
                    consistency: None,
                })
                .await
                .with_context(|| format!("reading {vehicle_id}"))?
                .into_inner();
            if o.pickup.is_none() {
                let r = self
                    .c
                    .order
                    .clone()
                    .record_pickup(opb::RecordPickupRequest {
                        context: self.ctx(&format!("pickup:{key}")),
                        order_id: id.clone(),
                        vehicle_id: vehicle_id.clone(),
                        plate: plate.clone(),
                        odometer_km: v.odometer_km,
                        charge_percent: v.charge_percent.max(60),
                        damage_noted: String::new(),
                        picked_up_at: None,
                    })
                    .await
                    .with_context(|| format!("recording the early pickup of {key}"))?
                    .into_inner();
                self.saw(ORDER, &r);
            }
            let o = self.get_order(&id).await?;
            let Some(pickup) = o.pickup.clone() else { continue };
            let picked_up_at = from_ts(&pickup.at).ok_or_else(|| anyhow!("{key}: no pickup time"))?;
            if hired == 0 {
                // The first comes back at once with a scratch: a claim opens.
                if o.r#return.is_none() {
                    let r = self
                        .c
                        .order
                        .clone()
                        .record_return(opb::RecordReturnRequest {
                            context: self.ctx(&format!("return:{key}")),
                            order_id: id.clone(),
                            return_location: None,
                            odometer_km: pickup.odometer_km + 3,
                            charge_percent: pickup.charge_percent.saturating_sub(2),
                            damage_noted: "右侧后视镜刮花".into(),
                            returned_at: None,
                        })
                        .await
                        .with_context(|| format!("recording the return of {key}"))?
                        .into_inner();
                    self.saw(ORDER, &r);
                    self.watch_claim(id.clone(), true);
                } else {
                    self.watch_claim(id.clone(), false);
                }
            } else {
                // A camera catches the others leaving the station: the offence at the second
                // after the handover, derived from the handover as recorded, so a second run
                // sends the same record.
                let (code, text, fine_fen, points) = world::OFFENCES[hired % world::OFFENCES.len()];
                self.week.offences.push(world::Offence {
                    plate: pickup.plate.clone(),
                    at: picked_up_at + Duration::seconds(1),
                    code,
                    text,
                    place: world::PLACES[hired % world::PLACES.len()],
                    fine_fen,
                    points,
                    order: None,
                });
                self.live_offences.push(self.week.offences.len() - 1);
            }
            hired += 1;
        }
        Ok(())
    }
}

impl Demo {
    // ---- violations -----------------------------------------------------------------------

    fn record(&self, n: usize, line: u32, source: &str) -> rpb::ViolationRecord {
        let o = &self.week.offences[n];
        rpb::ViolationRecord {
            plate: o.plate.clone(),
            plate_type: "52".into(),
            offence_at: Some(ts(o.at)),
            place: o.place.into(),
            offence_code: o.code.into(),
            offence_text: o.text.into(),
            fine: cny(o.fine_fen),
            points: o.points,
            handled: false,
            authority_ref: self.authority_ref(n),
            line,
            source: source.into(),
        }
    }

    fn authority_ref(&self, n: usize) -> String {
        let o = &self.week.offences[n];
        format!(
            "31{:04}{n:05}{:08}",
            self.s.seed % 10_000,
            o.at.unix_timestamp().rem_euclid(100_000_000)
        )
    }

    async fn violations(&mut self) -> anyhow::Result<()> {
        let backlog: Vec<usize> = (0..self.week.offences.len())
            .filter(|n| !self.live_offences.contains(n))
            .collect();
        let half = backlog.len() / 2;
        let mut rng = Rng::new(self.s.seed, &format!("feeds:{}", self.s.city));
        let day = |d: i64| (self.s.week_start + Duration::days(d)).date();
        // Three feeds, days late: the first half of the week; the second half with a quarter
        // of the first again; the live days' records with two of the second again.
        let first: Vec<usize> = backlog[..half].to_vec();
        let mut second: Vec<usize> = backlog[half..].to_vec();
        second.extend(first.iter().copied().filter(|_| rng.chance(25)));
        let mut third: Vec<usize> = self.live_offences.clone();
        third.extend(backlog[half..].iter().copied().take(2));
        let feeds = [
            (format!("12123-{}-{}.csv", self.s.city, day(9)), first),
            (format!("12123-{}-{}.csv", self.s.city, day(16)), second),
            (format!("12123-{}-live.csv", self.s.city), third),
        ];
        self.phase("violations", feeds.len() as u64 + 1);
        for (f, (source, records)) in feeds.iter().enumerate() {
            let batch: Vec<rpb::ViolationRecord> = records
                .iter()
                .enumerate()
                .map(|(line, &n)| self.record(n, line as u32 + 2, source))
                .collect();
            for r in &batch {
                self.authority_refs.insert(r.authority_ref.clone());
            }
            // The live records are samples unless receivables has them already (a second run).
            let mut fresh = Vec::new();
            if f == 2 {
                for r in batch.iter().take(self.live_offences.len()) {
                    let known = self
                        .c
                        .rx
                        .clone()
                        .list_violations(rpb::ListViolationsRequest {
                            plate: r.plate.clone(),
                            page: page(String::new()),
                            ..Default::default()
                        })
                        .await
                        .context("listing a plate's violations")?
                        .into_inner()
                        .violations
                        .iter()
                        .any(|v| v.record.as_ref().is_some_and(|x| x.authority_ref == r.authority_ref));
                    if !known {
                        fresh.push(r.clone());
                    }
                }
            }
            // The backlog feeds reached the desk days after the week and are entered now, as
            // received then: each record is matched as of then, and its ladder runs from then.
            let received = match f {
                0 => Some(self.s.week_start + Duration::days(9) + Duration::hours(10)),
                1 => Some(self.s.week_start + Duration::days(16) + Duration::hours(10)),
                _ => None,
            }
            // A recent week's second feed may lie ahead: then it came on day 12 (in the past).
            .map(|t| {
                ts(if t <= OffsetDateTime::now_utc() {
                    t
                } else {
                    self.s.week_start + Duration::days(12)
                })
            });
            let request = rpb::ImportViolationsRequest {
                context: self.ctx(&format!("import:{source}")),
                records: batch.clone(),
                received_at: received,
            };
            let since = Instant::now();
            let rx = self.c.rx.clone();
            let summary = patiently(&format!("importing {source}"), || {
                let (mut rx, request) = (rx.clone(), request.clone());
                async move { rx.import_violations(futures::stream::iter(vec![request])).await }
            })
            .await?
            .into_inner();
            self.seq[RX] = self.seq[RX].max(summary.sequence);
            {
                // The live records are matched on import: the ladder's notice is the effect.
                for r in &fresh {
                    let (plate, reference) = (r.plate.clone(), r.authority_ref.clone());
                    let rx2 = rx.clone();
                    let handle = tokio::spawn(async move {
                        sample(since, || {
                            let (mut rx, plate, reference) = (rx2.clone(), plate.clone(), reference.clone());
                            async move {
                                let vs = rx
                                    .list_violations(rpb::ListViolationsRequest {
                                        plate,
                                        page: page(String::new()),
                                        ..Default::default()
                                    })
                                    .await
                                    .ok()?
                                    .into_inner()
                                    .violations;
                                vs.iter()
                                    .find(|v| v.record.as_ref().is_some_and(|r| r.authority_ref == reference))
                                    .filter(|v| v.last_step != rpb::LadderStep::Unspecified as i32)
                                    .map(|_| ())
                            }
                        })
                        .await
                        .0
                    });
                    self.sampler(Hop::ImportToNotice, handle);
                }
            }
            self.imports.push(summary);
            self.pb.inc(1);
        }
        self.resolve_exceptions().await?;
        self.ladder_caught_up().await?;
        // The live records' notices, before the complaints name those violations.
        let (imports, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.samplers)
            .into_iter()
            .partition(|(hop, _)| *hop == Hop::ImportToNotice);
        self.samplers = others;
        for (hop, handle) in imports {
            let got = handle.await.unwrap_or(None);
            let entry = self.hops.entry(hop).or_default();
            match got {
                Some(d) => entry.0.push(d),
                None => entry.1 += 1,
            }
        }
        self.pb.inc(1);
        Ok(())
    }

    /// Waits (at most three minutes) until receivables' ladder has taken every step of the
    /// demo's violations due by now: the backlog's notices, reminders, charges and hand-overs to
    /// collections, which its next scan takes all at once.
    async fn ladder_caught_up(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + StdDuration::from_secs(180);
        loop {
            let now = OffsetDateTime::now_utc();
            let mut due = 0;
            let mut token = String::new();
            loop {
                let r = self
                    .c
                    .rx
                    .clone()
                    .list_violations(rpb::ListViolationsRequest {
                        statuses: vec![rpb::ViolationStatus::Open as i32, rpb::ViolationStatus::Charged as i32],
                        city: self.s.city.clone(),
                        page: page(token),
                        consistency: within(self.seq[RX]),
                        ..Default::default()
                    })
                    .await
                    .context("listing the violations whose ladder runs")?
                    .into_inner();
                due += r
                    .violations
                    .iter()
                    .filter(|v| {
                        v.record
                            .as_ref()
                            .is_some_and(|r| self.authority_refs.contains(&r.authority_ref))
                            && from_ts(&v.next_step_due_at).is_some_and(|t| t <= now)
                    })
                    .count();
                token = r.page.map(|p| p.next_page_token).unwrap_or_default();
                if token.is_empty() {
                    break;
                }
            }
            if due == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                eprintln!(
                    "demo: {due} ladder steps due by now are not taken yet (is receivables' ladder scan running?)"
                );
                return Ok(());
            }
            self.pb.set_message(format!("the ladder catches up: {due} due"));
            tokio::time::sleep(StdDuration::from_millis(250)).await;
        }
    }

    /// The desk works the exceptions queue: a record during a hire it can see in the order's
    /// history is matched to that hire by hand; a record on an idle spare is the company's.
    async fn resolve_exceptions(&mut self) -> anyhow::Result<()> {
        let mut by_ref: BTreeMap<String, Option<usize>> = BTreeMap::new();
        // The live records are the hires' own: matched on import, or by receivables once it
        // has read the hire; the desk leaves them alone.
        for n in (0..self.week.offences.len()).filter(|n| !self.live_offences.contains(n)) {
            by_ref.insert(self.authority_ref(n), self.week.offences[n].order);
        }
        let mut token = String::new();
        let mut exceptions = Vec::new();
        loop {
            let r = self
                .c
                .rx
                .clone()
                .list_exceptions(rpb::ListExceptionsRequest {
                    city: String::new(),
                    page: page(token),
                    consistency: within(self.seq[RX]),
                })
                .await
                .context("reading the exceptions queue")?
                .into_inner();
            exceptions.extend(r.violations);
            token = r.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        let mut matched = Vec::new();
        for v in exceptions {
            let Some(reference) = v.record.as_ref().map(|r| r.authority_ref.clone()) else {
                continue;
            };
            let Some(order) = by_ref.get(&reference).copied() else {
                continue;
            };
            let (resolution, reason) = match order.and_then(|i| self.order_ids.get(i).cloned().flatten()) {
                Some(order_id) => (
                    rpb::resolve_exception_request::Resolution::OrderId(order_id),
                    "按租车记录核对为该订单承租人",
                ),
                None => (
                    rpb::resolve_exception_request::Resolution::Company(true),
                    "备用车停放期间被拍，无租车记录，由公司承担",
                ),
            };
            let request = rpb::ResolveExceptionRequest {
                context: self.ctx(&format!("resolve:{reference}")),
                violation_id: v.violation_id.clone(),
                resolution: Some(resolution),
                reason: reason.into(),
            };
            let rx = self.c.rx.clone();
            let r = patiently(&format!("resolving exception {reference}"), || {
                let (mut rx, request) = (rx.clone(), request.clone());
                async move { rx.resolve_exception(request).await }
            })
            .await?
            .into_inner();
            self.saw(RX, &r);
            if order.is_some() {
                matched.push(v.violation_id.clone());
            }
        }
        // The ladder's notice follows the match on receivables' next scan.
        for id in matched {
            let rx = self.c.rx.clone();
            let _ = sample(Instant::now(), || {
                let (mut rx, id) = (rx.clone(), id.clone());
                async move {
                    let v = rx
                        .get_violation(rpb::GetViolationRequest {
                            violation_id: id,
                            consistency: None,
                        })
                        .await
                        .ok()?
                        .into_inner()
                        .violation?;
                    (v.last_step != rpb::LadderStep::Unspecified as i32).then_some(())
                }
            })
            .await;
        }
        Ok(())
    }

    // ---- claims and payments --------------------------------------------------------------

    async fn claims(&mut self) -> anyhow::Result<()> {
        let claims = std::mem::take(&mut self.claims);
        self.phase("claims", claims.len() as u64);
        let mut rng = Rng::new(self.s.seed, &format!("claims:{}", self.s.city));
        for (label, handle) in claims {
            let (took, claim_id) = handle.await.unwrap_or((None, None));
            let fresh = !label.starts_with("repeat:");
            if fresh {
                let entry = self.hops.entry(Hop::ReturnToClaim).or_default();
                match took {
                    Some(d) => entry.0.push(d),
                    None => entry.1 += 1,
                }
            }
            self.pb.inc(1);
            let Some(claim_id) = claim_id else { continue };
            let parts = rng.range(8, 30) * 10_000;
            let labour = rng.range(3, 8) * 10_000;
            let paint = if rng.chance(50) { rng.range(4, 12) * 10_000 } else { 0 };
            let mut lines = vec![
                rpb::InvoiceLineInput {
                    kind: rpb::InvoiceLineKind::Parts as i32,
                    description: "配件".into(),
                    amount: cny(parts),
                    document_ref: format!("INV-{}-P", short(&claim_id)),
                },
                rpb::InvoiceLineInput {
                    kind: rpb::InvoiceLineKind::Labour as i32,
                    description: "工时".into(),
                    amount: cny(labour),
                    document_ref: format!("INV-{}-L", short(&claim_id)),
                },
            ];
            if paint > 0 {
                lines.push(rpb::InvoiceLineInput {
                    kind: rpb::InvoiceLineKind::Paint as i32,
                    description: "喷漆".into(),
                    amount: cny(paint),
                    document_ref: format!("INV-{}-S", short(&claim_id)),
                });
            }
            let r = self
                .c
                .rx
                .clone()
                .add_claim_lines(rpb::AddClaimLinesRequest {
                    context: self.ctx(&format!("claim-lines:{claim_id}")),
                    claim_id: claim_id.clone(),
                    lines,
                })
                .await
                .with_context(|| format!("adding the invoice lines of claim {claim_id}"))?
                .into_inner();
            self.seq[RX] = self.seq[RX].max(r.sequence);
            let r = self
                .c
                .rx
                .clone()
                .set_claim_details(rpb::SetClaimDetailsRequest {
                    context: self.ctx(&format!("claim-details:{claim_id}")),
                    claim_id: claim_id.clone(),
                    cause: rpb::DamageCause::Ordinary as i32,
                    repair_days: Some(rng.range(1, 4) as u32),
                })
                .await
                .with_context(|| format!("setting the details of claim {claim_id}"))?
                .into_inner();
            self.seq[RX] = self.seq[RX].max(r.sequence);
            // Finance confirms most; a few wait for the final invoice.
            let confirm = rng.chance(75);
            let pay = rng.chance(60);
            if !confirm {
                continue;
            }
            let claim = self
                .c
                .rx
                .clone()
                .get_claim(rpb::GetClaimRequest {
                    claim_id: claim_id.clone(),
                    consistency: within(self.seq[RX]),
                })
                .await
                .with_context(|| format!("reading claim {claim_id}"))?
                .into_inner()
                .claim
                .ok_or_else(|| anyhow!("claim {claim_id} is not there"))?;
            let total = claim.liability.as_ref().map_or(0, |l| l.total_fen);
            let r = self
                .c
                .rx
                .clone()
                .confirm_claim(rpb::ConfirmClaimRequest {
                    context: self.ctx(&format!("claim-confirm:{claim_id}")),
                    claim_id: claim_id.clone(),
                    expected_total: cny(total),
                })
                .await
                .with_context(|| format!("confirming claim {claim_id}"))?
                .into_inner();
            self.seq[RX] = self.seq[RX].max(r.sequence);
            let customer = claim.opened.as_ref().map(|o| o.customer_id.clone()).unwrap_or_default();
            if pay && total > 0 && !r.charge_booking_id.is_empty() && !customer.is_empty() {
                let b = self
                    .c
                    .rx
                    .clone()
                    .record_payment(rpb::RecordPaymentRequest {
                        context: self.ctx(&format!("pay:{claim_id}")),
                        customer_id: customer,
                        amount: cny(total),
                        reference: format!("WX{}{}", self.s.seed, short(&claim_id)),
                        charge_booking_id: r.charge_booking_id.clone(),
                        paid_at: None,
                        memo: "微信支付 维修款".into(),
                    })
                    .await
                    .with_context(|| format!("recording the payment for claim {claim_id}"))?
                    .into_inner();
                self.seq[RX] = self.seq[RX].max(b.sequence);
            }
        }
        Ok(())
    }
}

/// What customers write, by topic: (category, sub-category, texts).
const TOPICS: [(&str, &str, [&str; 3]); 6] = [
    (
        "billing",
        "deposit_refund",
        [
            "还车已经十天了，押金还没有退回，客服一直说在处理，请尽快退押金",
            "违章押金两千元到现在没退，订单早就结束了，押金退款太慢",
            "押金迟迟不退，也没有任何说明，要求马上退还押金",
        ],
    ),
    (
        "vehicle",
        "cleanliness",
        [
            "取车时车内很脏，座椅上有污渍，后备箱还有上一位客人的垃圾",
            "车辆没有清洁，脚垫全是泥，车里有烟味，体验很差",
            "车内卫生太差了，方向盘黏黏的，希望加强车辆清洁",
        ],
    ),
    (
        "vehicle",
        "low_charge",
        [
            "取车时电量只有百分之三十，根本不够去机场，还得先找充电桩",
            "交车电量太低，说好满电交车，结果只有一半电量",
            "电量不足导致行程耽误，充电花了一个多小时",
        ],
    ),
    (
        "fulfilment",
        "late_handover",
        [
            "约好十点送车上门，等到十一点半车才到，耽误了行程",
            "门店交车晚了四十分钟，工作人员也没有提前通知",
            "送车迟到一个小时，电话一直打不通，非常着急",
        ],
    ),
    (
        "service",
        "app_problem",
        [
            "APP下单后一直显示待确认，无法修改取车时间，闪退好几次",
            "小程序支付押金时报错，重复扣款，请核实退回",
            "APP里看不到订单详情，还车后账单也打不开",
        ],
    ),
    (
        "billing",
        "violation_charge",
        [
            "这条违章不是我开的时候产生的，我那天已经还车了，请核实",
            "违章时间我的车已经换了，不应该算在我头上",
            "对违章通知有异议，要求提供照片证据",
        ],
    ),
];

impl Demo {
    // ---- complaints -----------------------------------------------------------------------

    async fn complaints(&mut self) -> anyhow::Result<()> {
        // Violations matched to renters, for the disputes.
        let mut token = String::new();
        let plates: BTreeSet<&str> = self.fleet.iter().map(|c| c.plate.as_str()).collect();
        loop {
            let r = self
                .c
                .rx
                .clone()
                .list_violations(rpb::ListViolationsRequest {
                    // Waived too: a second run must find the one a complaint waived in the first.
                    // Charged ones too: the backlog's charges are what renters dispute most.
                    statuses: vec![
                        rpb::ViolationStatus::Open as i32,
                        rpb::ViolationStatus::Charged as i32,
                        rpb::ViolationStatus::Waived as i32,
                    ],
                    city: self.s.city.clone(),
                    page: page(token),
                    consistency: within(self.seq[RX]),
                    ..Default::default()
                })
                .await
                .context("listing open violations")?
                .into_inner();
            for v in r.violations {
                let ours = v.record.as_ref().is_some_and(|r| {
                    plates.contains(r.plate.as_str()) && self.authority_refs.contains(&r.authority_ref)
                });
                if let (true, Some(m)) = (ours, v.r#match.as_ref()) {
                    self.violations
                        .push((v.violation_id.clone(), m.customer_id.clone(), m.order_id.clone()));
                }
            }
            token = r.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        self.violations.sort();
        let hired: Vec<usize> = (0..self.week.orders.len())
            .filter(|&i| self.week.orders[i].hire.is_some())
            .collect();
        let count = (self.s.cars as usize / 4).max(8);
        let disputes = self.violations.len().min((count / 5).max(2));
        self.phase("complaints", (count + disputes) as u64);
        let mut rng = Rng::new(self.s.seed, &format!("complaints:{}", self.s.city));
        const CHANNELS: [(&str, u64); 6] = [
            ("HOTLINE", 35),
            ("APP", 25),
            ("MINI_PROGRAM", 15),
            ("WEIBO", 8),
            ("XIAOHONGSHU", 7),
            ("REGULATOR_12315", 3),
        ];
        let weights: Vec<u64> = CHANNELS.iter().map(|c| c.1).collect();
        let mut when = Rng::new(self.s.seed, &format!("case-times:{}", self.s.city));
        for n in 0..count + disputes {
            let dispute = n >= count;
            // Every other complaint came in during the backlog week and is entered now with its
            // times: its SLA clocks ran then, and the scan raises what they reached. The
            // disputes are the live days': their violations' ladders still run.
            let opened_at = (!dispute && n % 2 == 0).then(|| {
                self.s.week_start
                    + Duration::days(when.range(0, 6))
                    + Duration::hours(when.range(9, 19))
                    + Duration::minutes(when.range(0, 59))
            });
            let (category, sub, texts) = if dispute {
                TOPICS[5]
            } else {
                // Charge level and cleanliness come up most: the analysis should find them.
                TOPICS[rng.weighted(&[16, 24, 30, 14, 16])]
            };
            let text = rng.pick(&texts).copied().unwrap_or(texts[0]);
            let channel = CHANNELS[rng.weighted(&weights)].0;
            let mut request = cpb::OpenCaseRequest {
                context: self.ctx(&format!("case:{n}")),
                channel: channel.into(),
                category: category.into(),
                sub_category: sub.into(),
                text: text.into(),
                opened_at: opened_at.map(ts),
                ..Default::default()
            };
            let mut violation = None;
            let mut dispute_fresh = false;
            if dispute {
                let (vid, customer, order) = self.violations[n - count].clone();
                let v = self
                    .c
                    .rx
                    .clone()
                    .get_violation(rpb::GetViolationRequest {
                        violation_id: vid.clone(),
                        consistency: None,
                    })
                    .await
                    .with_context(|| format!("reading violation {vid}"))?
                    .into_inner()
                    .violation;
                dispute_fresh = v.is_some_and(|v| {
                    v.disputes.is_empty()
                        && (v.status == rpb::ViolationStatus::Open as i32
                            || v.status == rpb::ViolationStatus::Charged as i32)
                });
                request.customer_id = customer;
                request.order_id = order;
                request.violation_id = vid.clone();
                request.channel = "HOTLINE".into();
                violation = Some(vid);
            } else if let Some(&i) = rng.pick(&hired) {
                let o = &self.week.orders[i];
                request.customer_id = self.customers[o.customer % self.customers.len()].id.clone();
                request.order_id = self.order_id(i)?;
                if category == "vehicle" {
                    request.vehicle_id = self.fleet[o.car].vehicle_id.clone();
                }
            } else {
                request.customer_id = self.customers[n % self.customers.len()].id.clone();
            }
            let cp = self.c.cp.clone();
            let opened = patiently(&format!("opening case {n}"), || {
                let (mut cp, request) = (cp.clone(), request.clone());
                async move { cp.open_case(request).await }
            })
            .await?
            .into_inner();
            let since = Instant::now();
            let result = opened.result.unwrap_or_default();
            self.seq[CP] = self.seq[CP].max(result.sequence);
            let case_id = opened.case_id.clone();
            self.case_ids.push(case_id.clone());
            // The first dispute is resolved at once (its pause may come and go between two polls):
            // the samples are the disputes that stay open.
            if let (Some(vid), true) = (&violation, dispute_fresh && n > count) {
                let rx = self.c.rx.clone();
                let (vid, cid) = (vid.clone(), case_id.clone());
                let handle = tokio::spawn(async move {
                    sample(since, || {
                        let (mut rx, vid, cid) = (rx.clone(), vid.clone(), cid.clone());
                        async move {
                            let v = rx
                                .get_violation(rpb::GetViolationRequest {
                                    violation_id: vid,
                                    consistency: None,
                                })
                                .await
                                .ok()?
                                .into_inner()
                                .violation?;
                            v.disputes.contains(&cid).then_some(())
                        }
                    })
                    .await
                    .0
                });
                self.sampler(Hop::ComplaintToDispute, handle);
            }
            // How far the desk gets with it during the week.
            let fate = if dispute {
                if n == count { 1 } else { 4 }
            } else {
                rng.weighted(&[40, 15, 15, 15, 15])
            };
            self.work_case(&case_id, n, fate, violation.as_deref(), &request.customer_id, opened_at)
                .await?;
            self.pb.inc(1);
        }
        self.breaches_raised().await
    }

    /// Waits (at most three minutes) until complaint's SLA scan has raised every breach the
    /// cases' clocks show: the backlog's cases reached their targets days ago, and the scan
    /// raises them (escalating those whose clock still runs) once the desk is done entering
    /// them.
    async fn breaches_raised(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + StdDuration::from_secs(180);
        loop {
            let mut waiting = 0;
            for id in &self.case_ids {
                let c = self
                    .c
                    .cp
                    .clone()
                    .get_case(cpb::GetCaseRequest {
                        case_id: id.clone(),
                        consistency: within(self.seq[CP]),
                    })
                    .await
                    .with_context(|| format!("reading case {id}"))?
                    .into_inner();
                let breached = c.clocks.iter().filter(|k| k.state == "breached").count();
                let raised = c.timeline.iter().filter(|e| e.event == "SlaBreached").count();
                if raised < breached {
                    waiting += 1;
                }
            }
            if waiting == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                eprintln!("demo: {waiting} breached cases are not raised yet (is complaint's SLA scan running?)");
                return Ok(());
            }
            self.pb
                .set_message(format!("the SLA scan catches up: {waiting} cases to raise"));
            tokio::time::sleep(StdDuration::from_millis(250)).await;
        }
    }

    /// 0: resolved and closed; 1: resolved; 2: resolved, reopened and resolved again;
    /// 3: waiting on the customer; 4: first response only. A case opened at `opened_at` (in the
    /// backlog week) has each step dated after it: answered within half an hour (every third
    /// one after six hours), resolved the next day, closed or reopened in the days after.
    async fn work_case(
        &mut self,
        case_id: &str,
        n: usize,
        fate: usize,
        violation: Option<&str>,
        customer: &str,
        opened_at: Option<OffsetDateTime>,
    ) -> anyhow::Result<()> {
        let step = |what: &str| format!("case:{n}:{what}");
        let at = |minutes: i64| opened_at.map(|t| ts(t + Duration::minutes(minutes)));
        let answered = if n.is_multiple_of(3) { 6 * 60 } else { 30 };
        let mut cp = self.c.cp.clone();
        let mut seqs = Vec::new();
        let agent = ["desk:li", "desk:wang", "desk:zhao"][n % 3];
        seqs.push(
            cp.assign_case(cpb::AssignCaseRequest {
                context: self.ctx(&step("assign")),
                case_id: case_id.into(),
                agent: agent.into(),
                at: at(5),
            })
            .await
            .context("assigning a case")?
            .into_inner(),
        );
        seqs.push(
            cp.record_first_response(cpb::RecordFirstResponseRequest {
                context: self.ctx(&step("first-response")),
                case_id: case_id.into(),
                note: "已致电客户致歉，说明将在24小时内给出处理方案".into(),
                at: at(answered),
            })
            .await
            .context("recording a first response")?
            .into_inner(),
        );
        if fate == 4 {
            return self.saw_all(CP, &seqs);
        }
        if fate == 3 {
            seqs.push(
                cp.wait_on_customer(cpb::WaitRequest {
                    context: self.ctx(&step("wait")),
                    case_id: case_id.into(),
                    reason: "等待客户提供付款截图".into(),
                    at: at(answered + 60),
                })
                .await
                .context("a case waiting on the customer")?
                .into_inner(),
            );
            return self.saw_all(CP, &seqs);
        }
        seqs.push(
            cp.start_investigation(cpb::StartInvestigationRequest {
                context: self.ctx(&step("investigate")),
                case_id: case_id.into(),
                at: at(answered + 60),
            })
            .await
            .context("investigating a case")?
            .into_inner(),
        );
        let root = match n % 4 {
            0 => "vehicle_not_prepared",
            1 => "capacity_shortage",
            2 => "system_error",
            _ => "policy_unclear",
        };
        seqs.push(
            cp.set_root_cause(cpb::SetRootCauseRequest {
                context: self.ctx(&step("root-cause")),
                case_id: case_id.into(),
                root_cause: if violation.is_some() {
                    "customer_misunderstanding".into()
                } else {
                    root.into()
                },
                note: "门店复核后确认".into(),
                at: at(20 * 60),
            })
            .await
            .context("setting a root cause")?
            .into_inner(),
        );
        let remedies = match violation {
            Some(vid) => vec![cpb::Remedy {
                remedy: Some(cpb::remedy::Remedy::Waive(cpb::WaiveCharge {
                    customer_id: customer.into(),
                    violation_id: vid.into(),
                    charge_booking_id: String::new(),
                    amount: None,
                })),
            }],
            None => vec![cpb::Remedy {
                remedy: Some(cpb::remedy::Remedy::Voucher(Money {
                    amount_fen: 5_000,
                    currency: "CNY".into(),
                })),
            }],
        };
        seqs.push(
            cp.resolve_case(cpb::ResolveCaseRequest {
                context: self.ctx(&step("resolve")),
                case_id: case_id.into(),
                explanation: "已核实情况，向客户致歉并给予补偿".into(),
                remedies: remedies.clone(),
                at: at(22 * 60),
            })
            .await
            .context("resolving a case")?
            .into_inner(),
        );
        match fate {
            0 => seqs.push(
                cp.close_case(cpb::CloseCaseRequest {
                    context: self.ctx(&step("close")),
                    case_id: case_id.into(),
                    at: at(2 * 24 * 60),
                })
                .await
                .context("closing a case")?
                .into_inner(),
            ),
            2 => {
                seqs.push(
                    cp.reopen_case(cpb::ReopenCaseRequest {
                        context: self.ctx(&step("reopen")),
                        case_id: case_id.into(),
                        reason: "客户表示问题仍未解决".into(),
                        at: at(3 * 24 * 60),
                    })
                    .await
                    .context("reopening a case")?
                    .into_inner(),
                );
                seqs.push(
                    cp.resolve_case(cpb::ResolveCaseRequest {
                        context: self.ctx(&step("resolve-again")),
                        case_id: case_id.into(),
                        explanation: "二次回访，补发代金券".into(),
                        remedies,
                        at: at(4 * 24 * 60),
                    })
                    .await
                    .context("resolving a reopened case")?
                    .into_inner(),
                );
            }
            _ => {}
        }
        self.saw_all(CP, &seqs)
    }

    fn saw_all(&mut self, service: usize, results: &[rentops_proto::common::CommandResult]) -> anyhow::Result<()> {
        for r in results {
            self.saw(service, r);
        }
        Ok(())
    }

    // ---- the figures ----------------------------------------------------------------------

    pub async fn figures(&mut self) -> anyhow::Result<Figures> {
        let ids: BTreeSet<String> = self
            .order_ids
            .iter()
            .flatten()
            .cloned()
            .chain(self.live_ids.iter().map(|(_, id)| id.clone()))
            .collect();
        crate::figures::read(
            &mut self.c.order.clone(),
            &mut self.c.fleet.clone(),
            &mut self.c.rx.clone(),
            &mut self.c.cp.clone(),
            crate::figures::Scope {
                city: self.s.city.clone(),
                seed: self.s.seed,
                cars: self.s.cars,
                week_start: self.s.week_start,
                live_from: self.live_from,
                orders: ids,
                week_orders: self.order_ids.iter().flatten().cloned().collect(),
                plates: self.fleet.iter().map(|c| c.plate.clone()).collect(),
                authority_refs: self.authority_refs.clone(),
                case_ids: self.case_ids.clone(),
                seq: self.seq,
                imports: self.imports.clone(),
                breakdown_note: self.breakdown_note.clone(),
                replan_note: self.replan_note.clone(),
                hops: self.hops.clone(),
            },
        )
        .await
    }
}
