//! Runs the fleet service in-process against a real nats-server and a real database, with an
//! ORDER stream that the tests fill with well-formed order events themselves.
//! Test support: a failed step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use futures::StreamExt;
use rentops_eventstore::{EventMeta, StreamSettings, ensure_stream};
use rentops_fleet::app::{self, App};
use rentops_proto::common::{CommandContext, VehicleModel};
use rentops_proto::fleet as pb;
use rentops_proto::fleet::fleet_service_client::FleetServiceClient;
use rentops_proto::order as opb;
use rentops_runtime::{Clock, Shutdown, SystemClock};
use rentops_testkit::{NatsServer, TestDatabase, TestService};
use time::OffsetDateTime;
use tonic::transport::Channel;
use uuid::Uuid;

pub type Client = FleetServiceClient<Channel>;

pub struct TestApp {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub app: App,
    pub client: Client,
    pub shutdown: Shutdown,
    pub js: async_nats::jetstream::Context,
}

impl TestApp {
    pub async fn spawn(db: TestDatabase) -> TestApp {
        Self::spawn_with_clock(db, Arc::new(SystemClock)).await
    }

    pub async fn spawn_with_clock(db: TestDatabase, clock: Arc<dyn Clock>) -> TestApp {
        Self::spawn_configured(db, clock, Vec::new()).await
    }

    /// With configuration variables of the test's own.
    pub async fn spawn_configured(db: TestDatabase, clock: Arc<dyn Clock>, vars: Vec<(String, String)>) -> TestApp {
        rentops_testkit::init_tracing();
        let nats = NatsServer::start().await.expect("nats-server starts");
        let nc = async_nats::connect(nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(nc);
        ensure_stream(&js, &StreamSettings::for_service("order", 1))
            .await
            .expect("ORDER stream");
        let (app, client, shutdown) = start_with(&nats.url(), db.url(), clock, vars)
            .await
            .expect("fleet service starts");
        TestApp {
            nats,
            db,
            app,
            client,
            shutdown,
            js,
        }
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Every event of the FLEET stream on `subject` (wildcards allowed), oldest first.
    pub async fn fleet_events(&self, subject: &str) -> Vec<(String, bytes::Bytes)> {
        let stream = self.js.get_stream("FLEET").await.expect("FLEET");
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: subject.into(),
                ..Default::default()
            })
            .await
            .expect("consumer");
        let pending = consumer.cached_info().num_pending;
        let mut out = Vec::new();
        if pending == 0 {
            return out;
        }
        let mut messages = consumer.messages().await.expect("messages");
        while (out.len() as u64) < pending {
            let m = messages.next().await.expect("message").expect("ok");
            out.push((m.subject.to_string(), m.payload.clone()));
        }
        out
    }

    pub async fn count(&self, subject: &str) -> usize {
        self.fleet_events(subject).await.len()
    }

    pub async fn fleet_last_sequence(&self) -> u64 {
        let mut stream = self.js.get_stream("FLEET").await.expect("stream");
        stream.info().await.expect("info").state.last_sequence
    }

    /// Publishes one order event as the order service would: subject, CloudEvents headers, body.
    pub async fn order_event<M: prost::Message>(&self, order_id: &str, name: &str, message: &M) -> Uuid {
        self.order_event_with_id(order_id, name, message, Uuid::now_v7()).await
    }

    pub async fn order_event_with_id<M: prost::Message>(
        &self,
        order_id: &str,
        name: &str,
        message: &M,
        event_id: Uuid,
    ) -> Uuid {
        let meta = EventMeta {
            event_id,
            event_type: format!("rentops.order.v1.{name}"),
            source: "order".into(),
            aggregate_id: order_id.into(),
            time: OffsetDateTime::now_utc(),
            correlation_id: order_id.into(),
            causation_id: order_id.into(),
            actor: "test".into(),
            request_id: Uuid::new_v4().to_string(),
        };
        let mut headers = HeaderMap::new();
        meta.write_headers(&mut headers);
        self.js
            .publish_with_headers(
                format!("rentops.order.order.{order_id}.{name}"),
                headers,
                message.encode_to_vec().into(),
            )
            .await
            .expect("publish")
            .await
            .expect("ack");
        event_id
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.app.join()).await;
    }
}

pub async fn start(nats_url: &str, db_url: &str, clock: Arc<dyn Clock>) -> (App, Client, Shutdown) {
    start_with(nats_url, db_url, clock, Vec::new())
        .await
        .expect("fleet service starts")
}

pub async fn start_with(
    nats_url: &str,
    db_url: &str,
    clock: Arc<dyn Clock>,
    vars: Vec<(String, String)>,
) -> anyhow::Result<(App, Client, Shutdown)> {
    let mut env = vec![
        ("RENTOPS_NATS_URL".to_owned(), nats_url.to_owned()),
        ("RENTOPS_DATABASE_URL".to_owned(), db_url.to_owned()),
        ("RENTOPS_FLEET_REPLAN_DEBOUNCE_MS".to_owned(), "100".to_owned()),
    ];
    env.extend(vars);
    let rentops_testkit::InProcess { app, shutdown, url } =
        rentops_testkit::start_in_process(app::start, clock, env).await?;
    let client = FleetServiceClient::connect(url).await?;
    Ok((app, client, shutdown))
}

/// One replica of the fleet service, for [`rentops_testkit::Cluster`].
pub struct Replica {
    pub app: App,
    pub client: Client,
    pub shutdown: Shutdown,
}

impl TestService for Replica {
    const NAME: &'static str = "fleet";

    async fn start(nats_url: String, db_url: String, env: Vec<(String, String)>) -> anyhow::Result<Self> {
        // Fleet reads the order stream for demand: it exists before fleet starts, as in a cluster.
        let js = async_nats::jetstream::new(async_nats::connect(&nats_url).await?);
        ensure_stream(&js, &StreamSettings::for_service("order", 1)).await?;
        let (app, client, shutdown) = start_with(&nats_url, &db_url, Arc::new(SystemClock), env).await?;
        Ok(Replica { app, client, shutdown })
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.app.join()).await;
    }

    fn kill(self) {
        drop(self.app);
    }
}

pub fn rid() -> Option<CommandContext> {
    Some(CommandContext {
        request_id: Uuid::new_v4().to_string(),
        actor: "ops:zhang".into(),
        correlation_id: String::new(),
    })
}

pub fn ts(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}

/// Polls `check` until it answers Some, for at most 20 s: the re-plan runs in the background,
/// after the demand projection has seen the order event, so there is no sequence to wait on.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, Duration::from_secs(20), check).await
}

/// [`eventually`], giving up only after `patience`: for waits on a long stretch of work (a
/// stream applied one event per transaction) on a machine that may be busy.
pub async fn eventually_within<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// City SHA with stations PVG and SHA, 50 min apart, the default ladder and turnaround 60 min.
pub async fn configure_sha(c: &mut Client) -> u64 {
    c.configure_city(pb::ConfigureCityRequest {
        context: rid(),
        city: "SHA".into(),
        name: "上海".into(),
        ..Default::default()
    })
    .await
    .expect("city");
    for s in ["PVG", "SHA"] {
        c.add_station(pb::AddStationRequest {
            context: rid(),
            city: "SHA".into(),
            station_id: s.into(),
            name: s.into(),
            districts: if s == "PVG" { vec!["浦东".into()] } else { vec![] },
        })
        .await
        .expect("station");
    }
    c.set_travel_times(pb::SetTravelTimesRequest {
        context: rid(),
        city: "SHA".into(),
        times: vec![pb::TravelTime {
            from_station: "PVG".into(),
            to_station: "SHA".into(),
            minutes: 50,
        }],
        symmetric: true,
    })
    .await
    .expect("travel")
    .into_inner()
    .sequence
}

pub fn vin(n: u32) -> String {
    format!("LNBSCB3F5KW{n:06}")
}

pub async fn register(c: &mut Client, id: &str, model: VehicleModel, n: u32) -> u64 {
    c.register_vehicle(pb::RegisterVehicleRequest {
        context: rid(),
        vehicle_id: id.into(),
        vin: vin(n),
        plate: format!("沪AD{n:05}"),
        model: model as i32,
        city: "SHA".into(),
        home_station: "PVG".into(),
        registered_at: None,
    })
    .await
    .expect("vehicle")
    .into_inner()
    .sequence
}

pub fn station(s: &str) -> Option<opb::Location> {
    Some(opb::Location {
        place: Some(opb::location::Place::StationId(s.into())),
    })
}

pub fn placed(order_id: &str, model: VehicleModel, pickup: OffsetDateTime, hours: i64) -> opb::OrderPlaced {
    opb::OrderPlaced {
        order_id: order_id.into(),
        channel: opb::Channel::App as i32,
        channel_order_ref: order_id.into(),
        city: "SHA".into(),
        pickup_location: station("PVG"),
        pickup_at: Some(ts(pickup)),
        return_location: station("PVG"),
        return_at: Some(ts(pickup + time::Duration::hours(hours))),
        requested_model: model as i32,
        placed_at: Some(ts(OffsetDateTime::now_utc())),
        ..Default::default()
    }
}

/// Places and confirms an order on the ORDER stream.
pub async fn confirmed_order(
    t: &TestApp,
    order_id: &str,
    model: VehicleModel,
    pickup: OffsetDateTime,
    hours: i64,
) -> Uuid {
    t.order_event(order_id, "OrderPlaced", &placed(order_id, model, pickup, hours))
        .await;
    t.order_event(
        order_id,
        "OrderConfirmed",
        &opb::OrderConfirmed {
            order_id: order_id.into(),
            confirmed_at: Some(ts(OffsetDateTime::now_utc())),
            ..Default::default()
        },
    )
    .await
}

pub async fn plan(c: &mut Client) -> pb::CurrentPlan {
    c.get_current_plan(pb::GetCurrentPlanRequest {
        city: "SHA".into(),
        consistency: None,
    })
    .await
    .expect("plan")
    .into_inner()
}

/// The vehicle assigned to `order` in the current plan, once there is one.
pub async fn assigned(c: &Client, order: &str) -> String {
    eventually(&format!("{order} assigned"), || {
        let mut c = c.clone();
        let order = order.to_owned();
        async move {
            plan(&mut c)
                .await
                .assignments
                .into_iter()
                .find(|a| a.order_id == order)
                .map(|a| a.vehicle_id)
        }
    })
    .await
}
