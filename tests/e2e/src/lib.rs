//! Cross-service end-to-end tests (in `tests/`): the order and fleet services run in-process,
//! each with its own database, joined only by their event streams on one real nats-server —
//! as in production. This library is their harness: [`Desk`] starts both services on one
//! clock the test moves, and speaks to them as the desk and the fleet staff do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: a failed step stops the test loudly

pub mod cluster;

pub use cluster::{Cluster, Node};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rentops_proto::common::{CommandContext, Consistency, Money, VehicleModel};
use rentops_proto::fleet as fpb;
use rentops_proto::fleet::fleet_service_client::FleetServiceClient;
use rentops_proto::order as opb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_runtime::{Clock, MapEnv, ServiceConfig as _, Shutdown};
use rentops_testkit::{NatsServer, TestDatabase};
use time::OffsetDateTime;
use tonic::transport::Channel;
use uuid::Uuid;

/// How long a step may take to show through the other service before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// A service's environment on the shared nats-server and its own database.
pub fn env(nats: &str, db: &str, extra: &[(&str, &str)]) -> MapEnv {
    let mut env = MapEnv::from_pairs([
        ("RENTOPS_NATS_URL", nats),
        ("RENTOPS_DATABASE_URL", db),
        ("RENTOPS_METRICS_ADDR", "off"),
    ]);
    env.0
        .insert("RENTOPS_INSTANCE_ID".into(), format!("e2e-{}", Uuid::new_v4().simple()));
    for (k, v) in extra {
        env.0.insert((*k).into(), (*v).into());
    }
    env
}

/// A command context with a fresh request id, as the desk's app sends it.
pub fn rid() -> Option<CommandContext> {
    Some(CommandContext {
        request_id: Uuid::new_v4().to_string(),
        actor: "desk:li".into(),
        correlation_id: String::new(),
    })
}

pub fn ts(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}

pub fn cny(amount_fen: i64) -> Option<Money> {
    Some(Money {
        amount_fen,
        currency: "CNY".into(),
    })
}

/// A traffic bureau's record: speeding (1352) at `at` by the car carrying `plate`, 200 CNY and
/// 3 points, line `line` of the batch.
pub fn violation(plate: &str, at: OffsetDateTime, line: u32) -> rentops_proto::receivables::ViolationRecord {
    rentops_proto::receivables::ViolationRecord {
        plate: plate.into(),
        offence_at: Some(ts(at)),
        place: "浦东机场南路".into(),
        offence_code: "1352".into(),
        offence_text: "超速".into(),
        fine: cny(20_000),
        points: 3,
        line,
        source: "e2e".into(),
        ..Default::default()
    }
}

pub fn station(s: &str) -> Option<opb::Location> {
    Some(opb::Location {
        place: Some(opb::location::Place::StationId(s.into())),
    })
}

/// The desk's and the fleet staff's clients to the order and fleet services, and the steps
/// they take through them. [`Desk`] and [`Cluster`] both hand it out (by `Deref`).
pub struct Front {
    pub label: &'static str,
    pub oc: OrderServiceClient<Channel>,
    pub fc: FleetServiceClient<Channel>,
    /// The order stream's sequence of the desk's last command through this harness: what
    /// [`Front::order_when`] reads after.
    pub order_sequence: u64,
}

/// Both services, started on `clock`, with clients to each.
pub struct Desk {
    pub front: Front,
    pub clock: Arc<dyn Clock>,
    order: rentops_order::app::App,
    fleet: rentops_fleet::app::App,
    shutdown: Shutdown,
    // Last: the server outlives the services that use it.
    nats: NatsServer,
}

impl std::ops::Deref for Desk {
    type Target = Front;

    fn deref(&self) -> &Front {
        &self.front
    }
}

impl std::ops::DerefMut for Desk {
    fn deref_mut(&mut self) -> &mut Front {
        &mut self.front
    }
}

impl Desk {
    /// Starts a nats-server, then the order service and the fleet service (re-plans debounced
    /// 100 ms; the order's deadline scan hourly, out of the way).
    pub async fn start(order_db: &TestDatabase, fleet_db: &TestDatabase, clock: Arc<dyn Clock>) -> Desk {
        Self::start_with(
            order_db,
            fleet_db,
            clock,
            &[("RENTOPS_ORDER_DEADLINE_SCAN_SECS", "3600")],
            &[("RENTOPS_FLEET_REPLAN_DEBOUNCE_MS", "100")],
        )
        .await
    }

    /// Like [`Desk::start`], with each service's environment (beyond broker, database and
    /// metrics) as given.
    pub async fn start_with(
        order_db: &TestDatabase,
        fleet_db: &TestDatabase,
        clock: Arc<dyn Clock>,
        order_env: &[(&str, &str)],
        fleet_env: &[(&str, &str)],
    ) -> Desk {
        let nats = NatsServer::start().await.expect("nats-server");
        Self::start_on(nats, order_db, fleet_db, clock, order_env, fleet_env).await
    }

    /// Like [`Desk::start_with`], on a nats-server the test started (e.g. with the users and
    /// permissions of the cluster; the services' environments then carry their credentials).
    pub async fn start_on(
        nats: NatsServer,
        order_db: &TestDatabase,
        fleet_db: &TestDatabase,
        clock: Arc<dyn Clock>,
        order_env: &[(&str, &str)],
        fleet_env: &[(&str, &str)],
    ) -> Desk {
        rentops_testkit::init_tracing();
        let shutdown = Shutdown::new();
        let config =
            rentops_order::app::OrderConfig::read(&env(&nats.url(), order_db.url(), order_env)).expect("order config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let order = rentops_order::app::start(config, listener, clock.clone(), shutdown.clone())
            .await
            .expect("order service starts");
        let config =
            rentops_fleet::app::FleetConfig::read(&env(&nats.url(), fleet_db.url(), fleet_env)).expect("fleet config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let fleet = rentops_fleet::app::start(config, listener, clock.clone(), shutdown.clone())
            .await
            .expect("fleet service starts");
        let oc = OrderServiceClient::connect(format!("http://{}", order.addr))
            .await
            .expect("order client");
        let fc = FleetServiceClient::connect(format!("http://{}", fleet.addr))
            .await
            .expect("fleet client");
        Desk {
            front: Front {
                label: order_db.label(),
                oc,
                fc,
                order_sequence: 0,
            },
            clock,
            order,
            fleet,
            shutdown,
            nats,
        }
    }

    /// The running order service (its projector, reactors, database).
    pub fn order_app(&self) -> &rentops_order::app::App {
        &self.order
    }

    /// The running fleet service (its projectors, reactions, database).
    pub fn fleet_app(&self) -> &rentops_fleet::app::App {
        &self.fleet
    }

    /// The nats-server itself (its users' credentials, its refusals).
    pub fn nats(&self) -> &NatsServer {
        &self.nats
    }

    /// The nats-server both services use.
    pub fn nats_url(&self) -> String {
        self.nats.url()
    }

    /// Stops both services and waits for them (at most 10 s).
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            self.order.join().await;
            self.fleet.join().await;
        })
        .await;
    }
}

impl Front {
    /// City SHA with stations PVG and SHA, 50 minutes apart, the default ladder and turnaround.
    pub async fn city_sha(&mut self) {
        self.fc
            .configure_city(fpb::ConfigureCityRequest {
                context: rid(),
                city: "SHA".into(),
                name: "上海".into(),
                ..Default::default()
            })
            .await
            .expect("city");
        for s in ["PVG", "SHA"] {
            self.fc
                .add_station(fpb::AddStationRequest {
                    context: rid(),
                    city: "SHA".into(),
                    station_id: s.into(),
                    name: s.into(),
                    districts: vec![],
                })
                .await
                .expect("station");
        }
        self.fc
            .set_travel_times(fpb::SetTravelTimesRequest {
                context: rid(),
                city: "SHA".into(),
                times: vec![fpb::TravelTime {
                    from_station: "PVG".into(),
                    to_station: "SHA".into(),
                    minutes: 50,
                }],
                symmetric: true,
            })
            .await
            .expect("travel times");
    }

    /// Registers a car of city SHA at `station`.
    pub async fn register(&mut self, vehicle_id: &str, plate: &str, model: VehicleModel, station: &str) {
        let n: u32 = vehicle_id
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        self.fc
            .register_vehicle(fpb::RegisterVehicleRequest {
                context: rid(),
                vehicle_id: vehicle_id.into(),
                vin: format!("LNBSCB3F5KW{:06}", n % 1_000_000),
                plate: plate.into(),
                model: model as i32,
                city: "SHA".into(),
                home_station: station.into(),
                registered_at: None,
            })
            .await
            .expect("vehicle");
    }

    /// Places an app order (PVG → SHA) for customer `C-<reference>` with a violation deposit of
    /// 2,000 CNY, reaches the customer and confirms it; its id.
    pub async fn confirmed_order(
        &mut self,
        reference: &str,
        model: VehicleModel,
        pickup_at: OffsetDateTime,
        return_at: OffsetDateTime,
    ) -> String {
        self.confirmed_order_with(reference, model, pickup_at, return_at, 200_000)
            .await
    }

    /// Like [`Front::confirmed_order`], with a violation deposit of `violation_deposit_fen`
    /// (0: none is held, so a charge is owed on the ledger).
    pub async fn confirmed_order_with(
        &mut self,
        reference: &str,
        model: VehicleModel,
        pickup_at: OffsetDateTime,
        return_at: OffsetDateTime,
        violation_deposit_fen: i64,
    ) -> String {
        let placed = self
            .oc
            .place_order(opb::PlaceOrderRequest {
                context: rid(),
                channel: opb::Channel::App as i32,
                channel_order_ref: reference.into(),
                customer: Some(opb::Customer {
                    customer_id: format!("C-{reference}"),
                    name: "王芳".into(),
                    phone: "+86 138 0000 0000".into(),
                }),
                city: "SHA".into(),
                pickup_location: station("PVG"),
                pickup_at: Some(ts(pickup_at)),
                return_location: station("SHA"),
                return_at: Some(ts(return_at)),
                requested_model: model as i32,
                price: cny(120_000),
                rental_deposit: cny(500_000),
                violation_deposit: cny(violation_deposit_fen),
                ..Default::default()
            })
            .await
            .expect("placed")
            .into_inner();
        self.oc
            .record_contact_attempt(opb::RecordContactAttemptRequest {
                context: rid(),
                order_id: placed.order_id.clone(),
                outcome: opb::ContactOutcome::Reached as i32,
                ..Default::default()
            })
            .await
            .expect("call");
        let confirmed = self
            .oc
            .confirm_order(opb::ConfirmOrderRequest {
                context: rid(),
                order_id: placed.order_id.clone(),
                notes: String::new(),
            })
            .await
            .expect("confirmed")
            .into_inner();
        self.order_sequence = self.order_sequence.max(confirmed.sequence);
        placed.order_id
    }

    /// The order as the order service shows it, after `min_sequence`.
    pub async fn order(&mut self, order_id: &str, min_sequence: u64) -> opb::Order {
        self.oc
            .get_order(opb::GetOrderRequest {
                order_id: order_id.into(),
                as_of: None,
                consistency: Some(Consistency {
                    min_sequence,
                    timeout_ms: 10_000,
                }),
            })
            .await
            .expect("get order")
            .into_inner()
            .order
            .expect("an order")
    }

    /// The order once `ready` holds: what fleet does shows at the order service when its
    /// reactor has folded fleet's events in.
    pub async fn order_when(&mut self, order_id: &str, what: &str, ready: impl Fn(&opb::Order) -> bool) -> opb::Order {
        let label = self.label;
        let (oc, id, ready) = (self.oc.clone(), order_id.to_owned(), &ready);
        let min_sequence = self.order_sequence;
        until(label, what, move || {
            let mut oc = oc.clone();
            let id = id.clone();
            async move {
                let o = oc
                    .get_order(opb::GetOrderRequest {
                        order_id: id,
                        as_of: None,
                        // The desk's own commands first; what fleet caused comes after them.
                        consistency: Some(Consistency {
                            min_sequence,
                            timeout_ms: 10_000,
                        }),
                    })
                    .await
                    .expect("get order")
                    .into_inner()
                    .order
                    .expect("an order");
                (o.clone(), ready(&o))
            }
        })
        .await
    }

    /// The vehicle once `ready` holds: what the order service records shows at fleet when its
    /// projection and readings reactor have taken it in.
    pub async fn vehicle_when(
        &mut self,
        vehicle_id: &str,
        what: &str,
        ready: impl Fn(&fpb::Vehicle) -> bool,
    ) -> fpb::Vehicle {
        let label = self.label;
        let (fc, id, ready) = (self.fc.clone(), vehicle_id.to_owned(), &ready);
        until(label, what, move || {
            let mut fc = fc.clone();
            let id = id.clone();
            async move {
                let v = fc
                    .get_vehicle(fpb::GetVehicleRequest {
                        vehicle_id: id,
                        consistency: None,
                    })
                    .await
                    .expect("get vehicle")
                    .into_inner();
                (v.clone(), ready(&v))
            }
        })
        .await
    }

    /// Fleet's driver tasks of city SHA once `ready` holds: fleet's task view follows its own
    /// projector, which may be behind what the order service already shows.
    pub async fn tasks_when(&mut self, what: &str, ready: impl Fn(&[fpb::DriverTask]) -> bool) -> Vec<fpb::DriverTask> {
        let (fc, ready) = (self.fc.clone(), &ready);
        until(self.label, what, move || {
            let mut fc = fc.clone();
            async move {
                let tasks = fc
                    .list_driver_tasks(fpb::ListDriverTasksRequest {
                        city: "SHA".into(),
                        ..Default::default()
                    })
                    .await
                    .expect("driver tasks")
                    .into_inner()
                    .tasks;
                let done = ready(&tasks);
                (tasks, done)
            }
        })
        .await
    }

    /// Registers driver `id` in city SHA.
    pub async fn driver(&mut self, id: &str) {
        self.fc
            .register_driver(fpb::RegisterDriverRequest {
                context: rid(),
                driver_id: id.into(),
                name: "李师傅".into(),
                phone: "+86 139 0000 0000".into(),
                city: "SHA".into(),
            })
            .await
            .expect("driver");
    }
}

/// The last sequence of `stream` (e.g. `ORDER`) on the nats-server at `nats`.
pub async fn last_sequence(nats: &str, stream: &str) -> u64 {
    let client = async_nats::connect(nats).await.expect("nats");
    async_nats::jetstream::new(client)
        .get_stream(stream)
        .await
        .expect("the stream")
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence
}

/// Polls `check` until it reports ready, for at most [`PATIENCE`]; the last value it saw is in
/// the failure message. The two services meet only through the log, so there is no single
/// sequence to wait on across them.
pub async fn until<T, F, Fut>(label: &str, what: &str, check: F) -> T
where
    T: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = (T, bool)>,
{
    until_within(label, what, PATIENCE, check).await
}

/// Like [`until`], for at most `patience` (e.g. after a kill, when an event the dead service had
/// pulled comes back only after its consumer's ack wait).
pub async fn until_within<T, F, Fut>(label: &str, what: &str, patience: Duration, mut check: F) -> T
where
    T: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = (T, bool)>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let (value, ready) = check().await;
        if ready {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{label}: timed out waiting for {what}; last seen: {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
