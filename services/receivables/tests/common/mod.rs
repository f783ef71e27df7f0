//! Runs the receivables service in-process against a real nats-server and a real database,
//! with a clock the tests move. The order and fleet services' events are appended to their own
//! streams as those services write them (the same subjects, envelopes and messages): that is
//! the whole contract receivables reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use rentops_eventstore::EventStore;
use rentops_proto::common::{CommandContext, Consistency, Money};
use rentops_proto::receivables as pb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use rentops_proto::{fleet as fpb, order as opb};
use rentops_receivables::app::{self, App};
use rentops_runtime::config::{CommonConfig, ConfigReader, MapEnv};
use rentops_runtime::{ManualClock, Shutdown};
use rentops_testkit::{InProcess, NatsServer, TestDatabase};
use time::OffsetDateTime;
use time::macros::datetime;
use tonic::transport::Channel;

/// When the tests' world begins.
pub const T0: OffsetDateTime = datetime!(2026-11-02 08:00 UTC);

pub struct TestApp {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub app: App,
    pub client: ReceivablesServiceClient<Channel>,
    pub clock: Arc<ManualClock>,
    pub shutdown: Shutdown,
    pub order_log: EventStore,
    pub fleet_log: EventStore,
    pub complaint_log: EventStore,
    /// Where the local notification gateway writes the notices it sends.
    pub notices: std::path::PathBuf,
}

async fn log(nats_url: &str, service: &str) -> EventStore {
    let env = MapEnv::from_pairs([("RENTOPS_NATS_URL", nats_url)]);
    let common = CommonConfig::read(&ConfigReader::new(&env), service, "127.0.0.1:0", "127.0.0.1:0").unwrap();
    rentops_eventstore::open(service, &common).await.unwrap().0
}

impl TestApp {
    pub async fn spawn(db: TestDatabase) -> TestApp {
        rentops_testkit::init_tracing();
        let nats = NatsServer::start().await.expect("nats-server starts");
        let clock = ManualClock::at(T0);
        let notices = std::env::temp_dir().join(format!("rentops-notices-{}.jsonl", uuid::Uuid::new_v4().simple()));
        let env = vec![
            (
                "RENTOPS_RECEIVABLES_NOTICE_LOG".to_owned(),
                notices.display().to_string(),
            ),
            ("RENTOPS_NATS_URL".to_owned(), nats.url()),
            ("RENTOPS_DATABASE_URL".to_owned(), db.url().to_owned()),
            ("RENTOPS_RECEIVABLES_LADDER_SCAN_SECS".to_owned(), "1".to_owned()),
        ];
        // The other services' streams first, as in a running cluster.
        let order_log = log(&nats.url(), "order").await;
        let fleet_log = log(&nats.url(), "fleet").await;
        let complaint_log = log(&nats.url(), "complaint").await;
        let InProcess { app, shutdown, url } = rentops_testkit::start_in_process(app::start, clock.clone(), env)
            .await
            .expect("receivables starts");
        let client = ReceivablesServiceClient::connect(url).await.unwrap();
        TestApp {
            nats,
            db,
            app,
            client,
            clock,
            shutdown,
            order_log,
            fleet_log,
            complaint_log,
            notices,
        }
    }

    /// The notices the gateway has sent once it has handled the stream up to `after`, one JSON
    /// value each.
    pub async fn notices_sent(&self, after: u64) -> Vec<serde_json::Value> {
        self.app
            .notice_gateway
            .handled(after, Duration::from_secs(30))
            .await
            .expect("the notice gateway catches up");
        std::fs::read_to_string(&self.notices)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.app.join()).await;
        let _ = std::fs::remove_file(&self.notices);
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

    /// Appends an order event and waits until receivables' hires read model has it.
    pub async fn order_event(&self, order_id: &str, name: &'static str, m: impl Message, at: OffsetDateTime) -> u64 {
        let seq = Self::append(&self.order_log, "order", order_id, name, m.encode_to_vec(), at).await;
        self.app
            .hires
            .checkpoints
            .wait_for(seq, Duration::from_secs(30))
            .await
            .expect("hires projection catches up");
        seq
    }

    pub async fn fleet_event(&self, vehicle_id: &str, name: &'static str, m: impl Message, at: OffsetDateTime) -> u64 {
        let seq = Self::append(&self.fleet_log, "vehicle", vehicle_id, name, m.encode_to_vec(), at).await;
        self.app
            .fleet
            .checkpoints
            .wait_for(seq, Duration::from_secs(30))
            .await
            .expect("fleet custody projection catches up");
        seq
    }

    /// Appends a complaint case's event and waits until the disputes reactor has handled it.
    pub async fn complaint_event(&self, case_id: &str, name: &'static str, m: impl Message) -> u64 {
        let now = rentops_runtime::Clock::now(self.clock.as_ref());
        let seq = Self::append(&self.complaint_log, "case", case_id, name, m.encode_to_vec(), now).await;
        self.app
            .disputes
            .handled(seq, Duration::from_secs(30))
            .await
            .expect("the disputes reactor catches up");
        seq
    }

    pub async fn register_vehicle(&self, vehicle_id: &str, plate: &str, at: OffsetDateTime) {
        self.fleet_event(
            vehicle_id,
            "VehicleRegistered",
            fpb::VehicleRegistered {
                vehicle_id: vehicle_id.into(),
                vin: format!("VIN{vehicle_id}"),
                plate: plate.into(),
                city: "SHA".into(),
                home_station: "SHA-01".into(),
                registered_at: Some(ts(at)),
                ..Default::default()
            },
            at,
        )
        .await;
    }

    pub async fn place(&self, order_id: &str, customer: &str) {
        self.order_event(
            order_id,
            "OrderPlaced",
            opb::OrderPlaced {
                order_id: order_id.into(),
                customer: Some(opb::Customer {
                    customer_id: customer.into(),
                    name: "张三".into(),
                    phone: "13800000000".into(),
                }),
                city: "SHA".into(),
                violation_deposit: Some(cny(200_000).unwrap()),
                ..Default::default()
            },
            T0,
        )
        .await;
    }

    pub async fn pickup(&self, order_id: &str, vehicle_id: &str, plate: &str, at: OffsetDateTime) {
        self.order_event(
            order_id,
            "VehiclePickedUp",
            opb::VehiclePickedUp {
                order_id: order_id.into(),
                picked_up_at: Some(ts(at)),
                vehicle_id: vehicle_id.into(),
                plate: plate.into(),
                odometer_km: 100,
                charge_percent: 90,
                ..Default::default()
            },
            at,
        )
        .await;
    }

    pub async fn swap(&self, order_id: &str, broken: (&str, &str), replacement: (&str, &str), at: OffsetDateTime) {
        let reading = |(v, p): (&str, &str)| opb::VehicleReading {
            vehicle_id: v.into(),
            plate: p.into(),
            odometer_km: 150,
            charge_percent: 50,
        };
        self.order_event(
            order_id,
            "VehicleSwapped",
            opb::VehicleSwapped {
                order_id: order_id.into(),
                swapped_at: Some(ts(at)),
                broken: Some(reading(broken)),
                replacement: Some(reading(replacement)),
                reason: "breakdown".into(),
                ..Default::default()
            },
            at,
        )
        .await;
    }

    pub async fn return_car(&self, order_id: &str, at: OffsetDateTime) {
        self.order_event(
            order_id,
            "VehicleReturned",
            opb::VehicleReturned {
                order_id: order_id.into(),
                returned_at: Some(ts(at)),
                odometer_km: 300,
                charge_percent: 40,
                ..Default::default()
            },
            at,
        )
        .await;
    }

    /// Imports `records` as one batch; returns the summary.
    pub async fn import(&self, records: Vec<pb::ViolationRecord>) -> pb::ImportSummary {
        self.import_batches(vec![records]).await
    }

    /// Imports one batch the desk received at `received` (a backlog entered late).
    pub async fn import_received(
        &self,
        records: Vec<pb::ViolationRecord>,
        received: OffsetDateTime,
    ) -> Result<pb::ImportSummary, tonic::Status> {
        self.client
            .clone()
            .import_violations(futures::stream::iter(vec![pb::ImportViolationsRequest {
                context: rid(),
                records,
                received_at: Some(ts(received)),
            }]))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn import_batches(&self, batches: Vec<Vec<pb::ViolationRecord>>) -> pb::ImportSummary {
        let messages: Vec<_> = batches
            .into_iter()
            .map(|records| pb::ImportViolationsRequest {
                context: rid(),
                records,
                received_at: None,
            })
            .collect();
        self.client
            .clone()
            .import_violations(futures::stream::iter(messages))
            .await
            .expect("import")
            .into_inner()
    }

    /// The violation with `plate` at `at`, read after the import's writes.
    pub async fn violation_of(&self, record: &pb::ViolationRecord, after: u64) -> pb::Violation {
        let list = self
            .client
            .clone()
            .list_violations(pb::ListViolationsRequest {
                plate: record.plate.clone(),
                consistency: wait(after),
                page: Some(rentops_proto::common::PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        let offence = record.offence_at.unwrap().seconds;
        list.violations
            .into_iter()
            .find(|v| v.record.as_ref().and_then(|r| r.offence_at).map(|t| t.seconds) == Some(offence))
            .expect("the violation is listed")
    }

    pub async fn get(&self, id: &str, after: u64) -> pb::Violation {
        self.client
            .clone()
            .get_violation(pb::GetViolationRequest {
                violation_id: id.into(),
                consistency: wait(after),
            })
            .await
            .expect("get")
            .into_inner()
            .violation
            .expect("violation")
    }

    /// The receivables stream's last sequence.
    pub async fn last_sequence(&self) -> u64 {
        let client = async_nats::connect(self.nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("RECEIVABLES").await.expect("stream");
        stream.info().await.expect("info").state.last_sequence
    }

    /// Lets the rematch scan run a whole pass after what was appended so far.
    pub async fn rematch_pass(&self) {
        self.app
            .rematch_scan
            .next_full_pass(Duration::from_secs(60))
            .await
            .expect("a rematch pass");
    }

    /// Moves the clock to `at` and waits for a whole ladder pass that saw it; returns the
    /// stream's last sequence after it. The pass starts only once the read model has every step
    /// taken so far: a pass that still saw the last step as due would take nothing, and the
    /// next step would wait for a later pass.
    pub async fn ladder_at(&self, at: OffsetDateTime) -> u64 {
        self.view_caught_up().await;
        self.clock.set(at);
        self.app
            .ladder_scan
            .next_full_pass(Duration::from_secs(60))
            .await
            .expect("a ladder pass");
        self.last_sequence().await
    }
}

impl TestApp {
    /// Waits until the read model has every event of this service's stream so far.
    async fn view_caught_up(&self) {
        let last = self.last_sequence().await;
        let mut applied = self.app.projector.applied();
        tokio::time::timeout(Duration::from_secs(60), applied.wait_for(|reached| *reached >= last))
            .await
            .expect("the read model reaches the stream's end within 60 s")
            .expect("the projector runs");
    }

    /// Moves the clock to `at` and waits for a whole pass of the deposits' scan that saw it;
    /// returns the stream's last sequence after it. As with the ladder, the pass starts once the
    /// read model has every booking so far (the charges a deposit settles).
    pub async fn deposits_at(&self, at: OffsetDateTime) -> u64 {
        self.view_caught_up().await;
        self.clock.set(at);
        self.app
            .deposit_scan
            .next_full_pass(Duration::from_secs(60))
            .await
            .expect("a deposits pass");
        self.last_sequence().await
    }

    pub async fn return_damaged(&self, order_id: &str, at: OffsetDateTime, damage: &str) {
        self.order_event(
            order_id,
            "VehicleReturned",
            opb::VehicleReturned {
                order_id: order_id.into(),
                returned_at: Some(ts(at)),
                odometer_km: 300,
                charge_percent: 40,
                damage_noted: damage.into(),
                ..Default::default()
            },
            at,
        )
        .await;
    }

    pub async fn place_covered(&self, order_id: &str, customer: &str, cover: rentops_proto::common::CoverTier) {
        self.order_event(
            order_id,
            "OrderPlaced",
            opb::OrderPlaced {
                order_id: order_id.into(),
                customer: Some(opb::Customer {
                    customer_id: customer.into(),
                    name: "赵六".into(),
                    phone: "13700000000".into(),
                }),
                city: "SHA".into(),
                cover_tier: cover as i32,
                ..Default::default()
            },
            T0,
        )
        .await;
    }

    pub async fn statement(&self, customer: &str, after: u64) -> pb::GetStatementResponse {
        self.client
            .clone()
            .get_statement(pb::GetStatementRequest {
                customer_id: customer.into(),
                as_of: String::new(),
                consistency: wait(after),
                page: None,
            })
            .await
            .expect("statement")
            .into_inner()
    }

    pub async fn place_with_deposit(&self, order_id: &str, customer: &str, deposit_fen: i64) {
        self.order_event(
            order_id,
            "OrderPlaced",
            opb::OrderPlaced {
                order_id: order_id.into(),
                customer: Some(opb::Customer {
                    customer_id: customer.into(),
                    name: "李四".into(),
                    phone: "13900000000".into(),
                }),
                city: "SHA".into(),
                violation_deposit: cny(deposit_fen),
                ..Default::default()
            },
            T0,
        )
        .await;
    }
}

pub fn wait(after: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence: after,
        timeout_ms: 30_000,
    })
}

pub fn rid() -> Option<CommandContext> {
    Some(CommandContext {
        request_id: uuid::Uuid::new_v4().to_string(),
        actor: "desk:wang".into(),
        correlation_id: String::new(),
    })
}

pub fn ts(t: OffsetDateTime) -> prost_types::Timestamp {
    rentops_proto::timestamp::to_timestamp(t)
}

pub fn cny(fen: i64) -> Option<Money> {
    Some(Money {
        amount_fen: fen,
        currency: "CNY".into(),
    })
}

pub fn record(plate: &str, at: OffsetDateTime, line: u32) -> pb::ViolationRecord {
    pb::ViolationRecord {
        plate: plate.into(),
        plate_type: "52".into(),
        offence_at: Some(ts(at)),
        place: "延安高架路100号".into(),
        offence_code: "1625".into(),
        offence_text: "违反禁令标志指示".into(),
        fine: cny(20_000),
        points: 3,
        handled: false,
        authority_ref: String::new(),
        line,
        source: "test-feed".into(),
    }
}

/// A v7-shaped order id the kernel accepts.
pub fn order_id(n: u32) -> String {
    format!("0190a1a2-0000-7000-8000-{n:012}")
}
