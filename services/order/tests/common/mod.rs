//! Runs the order service in-process against a real nats-server and a real database.
//! Test support: a failed step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use rentops_order::app::{self, App};
use rentops_order::projections::NAME as ORDERS_PROJECTION;
use rentops_proto::admin as apb;
use rentops_proto::admin::projection_admin_client::ProjectionAdminClient;
use rentops_proto::common::{CommandContext, Consistency, Money, VehicleModel};
use rentops_proto::order as pb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_runtime::{Shutdown, SystemClock};
use rentops_testkit::{InProcess, NatsServer, TestDatabase, TestService};
use tonic::transport::Channel;

pub struct Replica {
    pub app: App,
    pub client: OrderServiceClient<Channel>,
    pub admin: ProjectionAdminClient<Channel>,
    pub shutdown: Shutdown,
}

impl Replica {
    pub async fn start(nats_url: &str, db_url: &str, extra: &[(&str, &str)]) -> Replica {
        let env = extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self::start_with(nats_url, db_url, env)
            .await
            .expect("order service starts")
    }

    pub async fn start_with(nats_url: &str, db_url: &str, vars: Vec<(String, String)>) -> anyhow::Result<Replica> {
        let mut env = vec![
            ("RENTOPS_NATS_URL".to_owned(), nats_url.to_owned()),
            ("RENTOPS_DATABASE_URL".to_owned(), db_url.to_owned()),
            ("RENTOPS_ORDER_DEADLINE_SCAN_SECS".to_owned(), "3600".to_owned()),
        ];
        env.extend(vars);
        let InProcess { app, shutdown, url } =
            rentops_testkit::start_in_process(app::start, Arc::new(SystemClock), env).await?;
        let client = OrderServiceClient::connect(url.clone()).await?;
        let admin = ProjectionAdminClient::connect(url).await?;
        Ok(Replica {
            app,
            client,
            admin,
            shutdown,
        })
    }

    /// The order read model's status, as this replica answers it.
    pub async fn projection_status(&self) -> apb::Projection {
        self.admin
            .clone()
            .projection_status(apb::ProjectionStatusRequest {
                projection: ORDERS_PROJECTION.into(),
            })
            .await
            .expect("projection status")
            .into_inner()
            .projection
            .expect("a projection")
    }

    /// Starts a rebuild of the order read model; returns the stream sequence it will reach.
    pub async fn rebuild_projection(&self) -> u64 {
        self.admin
            .clone()
            .rebuild_projection(apb::RebuildProjectionRequest {
                projection: ORDERS_PROJECTION.into(),
            })
            .await
            .expect("rebuild started")
            .into_inner()
            .stream_sequence
    }

    /// Graceful stop.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.app.join()).await;
    }

    /// Abrupt stop: every task aborted wherever it is (between a commit and its ack, say).
    pub fn kill(self) {
        drop(self.app);
    }
}

impl TestService for Replica {
    const NAME: &'static str = "order";

    async fn start(nats_url: String, db_url: String, env: Vec<(String, String)>) -> anyhow::Result<Self> {
        Replica::start_with(&nats_url, &db_url, env).await
    }

    async fn stop(self) {
        Replica::stop(self).await
    }

    fn kill(self) {
        Replica::kill(self)
    }
}

/// A nats-server, a database and one replica of the order service.
pub struct TestApp {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub replica: Replica,
}

impl TestApp {
    pub async fn spawn(db: TestDatabase) -> TestApp {
        rentops_testkit::init_tracing();
        let nats = NatsServer::start().await.expect("nats-server starts");
        let replica = Replica::start(&nats.url(), db.url(), &[]).await;
        TestApp { nats, db, replica }
    }

    pub fn client(&self) -> OrderServiceClient<Channel> {
        self.replica.client.clone()
    }

    pub async fn another_replica(&self, extra: &[(&str, &str)]) -> Replica {
        Replica::start(&self.nats.url(), self.db.url(), extra).await
    }

    /// The stream's last sequence: what has been appended, for "nothing appended" checks.
    pub async fn stream_last_sequence(&self) -> u64 {
        let client = async_nats::connect(self.nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("ORDER").await.expect("stream");
        stream.info().await.expect("info").state.last_sequence
    }
}

pub fn ctx(request_id: &str) -> Option<CommandContext> {
    Some(CommandContext {
        request_id: request_id.into(),
        actor: "desk:li".into(),
        correlation_id: String::new(),
    })
}

pub fn rid() -> Option<CommandContext> {
    ctx(&uuid::Uuid::new_v4().to_string())
}

pub fn ts(t: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}

pub fn cny(fen: i64) -> Option<Money> {
    Some(Money {
        amount_fen: fen,
        currency: "CNY".into(),
    })
}

pub fn station(s: &str) -> Option<pb::Location> {
    Some(pb::Location {
        place: Some(pb::location::Place::StationId(s.into())),
    })
}

/// A valid placement: pickup in 3 days, back 2 days later.
pub fn place_request(reference: &str) -> pb::PlaceOrderRequest {
    let now = time::OffsetDateTime::now_utc();
    pb::PlaceOrderRequest {
        context: rid(),
        channel: pb::Channel::App as i32,
        partner_code: String::new(),
        channel_order_ref: reference.into(),
        customer: Some(pb::Customer {
            customer_id: "C-1".into(),
            name: "王芳".into(),
            phone: "+86 138 0000 0000".into(),
        }),
        city: "SHA".into(),
        pickup_location: station("PVG"),
        pickup_at: Some(ts(now + time::Duration::days(3))),
        return_location: station("SHA"),
        return_at: Some(ts(now + time::Duration::days(5))),
        requested_model: VehicleModel::Es6 as i32,
        add_ons: vec!["child-seat".into()],
        price: cny(120_000),
        rental_deposit: cny(500_000),
        violation_deposit: cny(200_000),
        notes: String::new(),
        placed_at: None,
        cover_tier: rentops_proto::common::CoverTier::Full as i32,
    }
}

pub fn after(sequence: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence: sequence,
        timeout_ms: 10_000,
    })
}

pub async fn place(client: &mut OrderServiceClient<Channel>, reference: &str) -> pb::PlaceOrderResponse {
    client
        .place_order(place_request(reference))
        .await
        .expect("placed")
        .into_inner()
}

pub async fn get(client: &mut OrderServiceClient<Channel>, order_id: &str, seq: u64) -> pb::Order {
    client
        .get_order(pb::GetOrderRequest {
            order_id: order_id.into(),
            as_of: None,
            consistency: after(seq),
        })
        .await
        .expect("get")
        .into_inner()
        .order
        .expect("order")
}

pub async fn reach_and_confirm(client: &mut OrderServiceClient<Channel>, order_id: &str) -> u64 {
    client
        .record_contact_attempt(pb::RecordContactAttemptRequest {
            context: rid(),
            order_id: order_id.into(),
            outcome: pb::ContactOutcome::Reached as i32,
            notes: "wants a child seat".into(),
            call_back_at: None,
            attempted_at: None,
        })
        .await
        .expect("call recorded");
    client
        .confirm_order(pb::ConfirmOrderRequest {
            context: rid(),
            order_id: order_id.into(),
            notes: String::new(),
        })
        .await
        .expect("confirmed")
        .into_inner()
        .sequence
}
