//! Runs the complaint service in-process (one replica or several on one broker and one
//! database) against a real nats-server and a real database, with a clock the tests move. The
//! order, fleet and receivables services' events are appended to their own streams as those
//! services write them: that is the whole contract complaint reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use rentops_complaint::app::{self, App};
use rentops_eventstore::EventStore;
use rentops_proto::common::{CommandContext, Consistency};
use rentops_proto::complaint as pb;
use rentops_proto::complaint::complaint_service_client::ComplaintServiceClient;
use rentops_proto::{fleet as fpb, order as opb, receivables as rpb};
use rentops_runtime::config::{CommonConfig, ConfigReader, MapEnv};
use rentops_runtime::{ManualClock, Shutdown};
use rentops_testkit::{InProcess, NatsServer, TestDatabase};
use time::OffsetDateTime;
use time::macros::datetime;
use tonic::transport::Channel;

/// When the tests' world begins: a Monday, 09:00 in Shanghai.
pub const T0: OffsetDateTime = datetime!(2026-11-02 01:00 UTC);

pub struct Replica {
    pub app: App,
    pub client: ComplaintServiceClient<Channel>,
    pub shutdown: Shutdown,
}

pub struct TestApp {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub replicas: Vec<Replica>,
    pub clock: Arc<ManualClock>,
    pub order_log: EventStore,
    pub fleet_log: EventStore,
    pub receivables_log: EventStore,
}

async fn log(nats_url: &str, service: &str) -> EventStore {
    let env = MapEnv::from_pairs([("RENTOPS_NATS_URL", nats_url)]);
    let common = CommonConfig::read(&ConfigReader::new(&env), service, "127.0.0.1:0", "127.0.0.1:0").unwrap();
    rentops_eventstore::open(service, &common).await.unwrap().0
}

impl TestApp {
    pub async fn spawn(db: TestDatabase) -> TestApp {
        Self::spawn_replicas(db, 1, &[]).await
    }

    /// `n` replicas of the service on one nats-server and one database, sharing one clock.
    pub async fn spawn_replicas(db: TestDatabase, n: usize, extra: &[(&str, &str)]) -> TestApp {
        rentops_testkit::init_tracing();
        let nats = NatsServer::start().await.expect("nats-server starts");
        let clock = ManualClock::at(T0);
        let order_log = log(&nats.url(), "order").await;
        let fleet_log = log(&nats.url(), "fleet").await;
        let receivables_log = log(&nats.url(), "receivables").await;
        let mut env = vec![
            ("RENTOPS_NATS_URL".to_owned(), nats.url()),
            ("RENTOPS_DATABASE_URL".to_owned(), db.url().to_owned()),
            ("RENTOPS_COMPLAINT_SCAN_SECS".to_owned(), "1".to_owned()),
            // The clock is the test's: a case is scanned as soon as the test moves it there.
            ("RENTOPS_COMPLAINT_SETTLE_SECS".to_owned(), "0".to_owned()),
        ];
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let starting: Vec<_> = (0..n)
            .map(|_| rentops_testkit::start_in_process(app::start, clock.clone(), env.clone()))
            .collect();
        let mut replicas = Vec::new();
        for started in futures::future::join_all(starting).await {
            let InProcess { app, shutdown, url } = started.expect("complaint starts");
            let client = ComplaintServiceClient::connect(url).await.unwrap();
            replicas.push(Replica { app, client, shutdown });
        }
        TestApp {
            nats,
            db,
            replicas,
            clock,
            order_log,
            fleet_log,
            receivables_log,
        }
    }

    pub fn client(&self) -> ComplaintServiceClient<Channel> {
        self.replicas[0].client.clone()
    }

    pub fn app(&self) -> &App {
        &self.replicas[0].app
    }

    pub async fn stop(self) {
        for r in self.replicas {
            r.shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(10), r.app.join()).await;
        }
    }

    pub async fn append(
        store: &EventStore,
        aggregate: &str,
        id: &str,
        name: &'static str,
        payload: Vec<u8>,
        at: OffsetDateTime,
    ) -> u64 {
        rentops_eventstore::testing::append_one(store, aggregate, id, name, payload, at)
            .await
            .expect("the event is appended")
    }

    /// Waits until the projection that reads `stream` on every replica that runs it has `seq`.
    async fn wait(&self, which: fn(&App) -> &rentops_projection::ProjectorHandle, seq: u64) {
        which(self.app())
            .checkpoints
            .wait_for(seq, Duration::from_secs(30))
            .await
            .expect("projection catches up");
    }

    pub async fn order_event(&self, order_id: &str, name: &'static str, m: impl Message) -> u64 {
        let now = rentops_runtime::Clock::now(self.clock.as_ref());
        let seq = Self::append(&self.order_log, "order", order_id, name, m.encode_to_vec(), now).await;
        self.wait(|a| &a.orders, seq).await;
        seq
    }

    pub async fn fleet_event(&self, vehicle_id: &str, name: &'static str, m: impl Message) -> u64 {
        let now = rentops_runtime::Clock::now(self.clock.as_ref());
        let seq = Self::append(&self.fleet_log, "vehicle", vehicle_id, name, m.encode_to_vec(), now).await;
        self.wait(|a| &a.fleet, seq).await;
        seq
    }

    pub async fn receivables_event(&self, aggregate: &str, id: &str, name: &'static str, m: impl Message) -> u64 {
        let now = rentops_runtime::Clock::now(self.clock.as_ref());
        let seq = Self::append(&self.receivables_log, aggregate, id, name, m.encode_to_vec(), now).await;
        self.wait(|a| &a.receivables, seq).await;
        seq
    }

    pub async fn register_vehicle(&self, vehicle_id: &str, plate: &str) {
        self.fleet_event(
            vehicle_id,
            "VehicleRegistered",
            fpb::VehicleRegistered {
                vehicle_id: vehicle_id.into(),
                vin: format!("VIN{vehicle_id}"),
                plate: plate.into(),
                model: rentops_proto::common::VehicleModel::Et7 as i32,
                city: "SHA".into(),
                home_station: "SHA-01".into(),
                registered_at: Some(ts(T0)),
            },
        )
        .await;
    }

    pub async fn place(&self, order_id: &str, customer: &str, city: &str) {
        self.order_event(
            order_id,
            "OrderPlaced",
            opb::OrderPlaced {
                order_id: order_id.into(),
                channel: opb::Channel::App as i32,
                customer: Some(opb::Customer {
                    customer_id: customer.into(),
                    name: "张三".into(),
                    phone: "13800000000".into(),
                }),
                city: city.into(),
                requested_model: rentops_proto::common::VehicleModel::Et5 as i32,
                placed_at: Some(ts(rentops_runtime::Clock::now(self.clock.as_ref()))),
                ..Default::default()
            },
        )
        .await;
    }

    pub async fn pickup(&self, order_id: &str, vehicle_id: &str) {
        self.order_event(
            order_id,
            "VehiclePickedUp",
            opb::VehiclePickedUp {
                order_id: order_id.into(),
                picked_up_at: Some(ts(rentops_runtime::Clock::now(self.clock.as_ref()))),
                vehicle_id: vehicle_id.into(),
                ..Default::default()
            },
        )
        .await;
    }

    /// A violation receivables matched to `customer`.
    pub async fn violation(&self, violation_id: &str, customer: &str, vehicle_id: &str) {
        self.receivables_event(
            "violation",
            violation_id,
            "ViolationMatched",
            rpb::ViolationMatched {
                violation_id: violation_id.into(),
                responsibility: rpb::Responsibility::Renter as i32,
                customer_id: customer.into(),
                vehicle_id: vehicle_id.into(),
                matched_at: Some(ts(T0)),
                ..Default::default()
            },
        )
        .await;
    }

    /// A charge on `customer`'s ledger.
    pub async fn charge(&self, customer: &str, booking_id: &str) {
        self.receivables_event(
            "ledger",
            customer,
            "LedgerBooked",
            rpb::LedgerBooked {
                booking_id: booking_id.into(),
                kind: rpb::BookingKind::Charge as i32,
                customer_id: customer.into(),
                booked_at: Some(ts(T0)),
                ..Default::default()
            },
        )
        .await;
    }

    pub async fn open(&self, request: pb::OpenCaseRequest) -> pb::OpenCaseResponse {
        self.client()
            .open_case(request)
            .await
            .expect("the case opens")
            .into_inner()
    }

    pub async fn get(&self, case_id: &str, after: u64) -> pb::Case {
        self.client()
            .get_case(pb::GetCaseRequest {
                case_id: case_id.into(),
                consistency: wait(after),
            })
            .await
            .expect("get case")
            .into_inner()
    }

    /// The stream's last sequence.
    pub async fn last_sequence(&self) -> u64 {
        let client = async_nats::connect(self.nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("COMPLAINT").await.expect("stream");
        stream.info().await.expect("info").state.last_sequence
    }

    /// Moves the clock to `at`, waits for a whole pass of every replica's SLA scan that saw it,
    /// then for the projection to have all it appended; returns the stream's last sequence.
    pub async fn scan_at(&self, at: OffsetDateTime) -> u64 {
        self.clock.set(at);
        for r in &self.replicas {
            r.app
                .sla_scan
                .next_full_pass(Duration::from_secs(60))
                .await
                .expect("an SLA pass");
        }
        let last = self.last_sequence().await;
        for r in &self.replicas {
            r.app
                .projector
                .checkpoints
                .wait_for(last, Duration::from_secs(30))
                .await
                .expect("the projection catches up");
        }
        last
    }

    /// How many events named `name` the case has in its timeline.
    pub async fn count(&self, case_id: &str, name: &str, after: u64) -> usize {
        self.get(case_id, after)
            .await
            .timeline
            .iter()
            .filter(|t| t.event == name)
            .count()
    }
}

pub fn wait(after: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence: after,
        timeout_ms: 10_000,
    })
}

pub fn rid() -> Option<CommandContext> {
    Some(CommandContext {
        request_id: uuid::Uuid::new_v4().to_string(),
        actor: "desk:li".into(),
        correlation_id: String::new(),
    })
}

pub fn ts(t: OffsetDateTime) -> prost_types::Timestamp {
    rentops_proto::timestamp::to_timestamp(t)
}

/// A complaint by `customer` through the hotline about `category`/`sub`.
pub fn complaint(customer: &str, category: &str, sub: &str) -> pb::OpenCaseRequest {
    pb::OpenCaseRequest {
        context: rid(),
        channel: "HOTLINE".into(),
        customer_id: customer.into(),
        category: category.into(),
        sub_category: sub.into(),
        text: "取车时车很脏，还没充电".into(),
        ..Default::default()
    }
}

pub fn clock_of(c: &pb::Case, which: pb::SlaClock) -> pb::Clock {
    c.clocks
        .iter()
        .find(|k| k.clock == which as i32)
        .cloned()
        .expect("the clock")
}
