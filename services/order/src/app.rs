//! Wiring of the order service: configuration, the event log, the projector, the deadline scan
//! and the gRPC server. `start` takes a bound listener and a shutdown token, so tests run the
//! whole service in-process on port 0.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rentops_eventstore::{CommandHandler, HandlerConfig};
use rentops_projection::{Db, ProjectionAdminApi, Projector, ProjectorHandle, ProjectorSettings};
use rentops_proto::order as pb;
use rentops_reactor::{Progress, ProgressWatch, Schedule};
use rentops_runtime::config::{CommonConfig, ConfigError, ConfigReader, Env};
use rentops_runtime::{Clock, Shutdown};
use tokio::task::JoinSet;

use crate::api::{OrderApi, OrderSettings};
use crate::domain::{ContactPolicy, OrderAggregate};
use crate::projections::{self, OrdersProjection};
use crate::reactors::{confirmation_deadline, fleet_plan};

pub const SERVICE: &str = "order";

#[derive(Debug, Clone)]
pub struct OrderConfig {
    pub common: CommonConfig,
    pub settings: OrderSettings,
    /// `RENTOPS_ORDER_DEADLINE_SCAN_SECS`: how often the confirmation deadline is checked.
    pub deadline_scan: Duration,
    /// Where fleet's plan events are read from (`RENTOPS_ORDER_FLEET_STREAM`, default `FLEET`).
    pub fleet_plan: fleet_plan::FleetPlanSettings,
}

impl OrderConfig {
    pub fn read(env: &dyn Env) -> Result<Self, ConfigError> {
        let r = ConfigReader::new(env);
        let common = CommonConfig::read(&r, SERVICE, "127.0.0.1:50051", "127.0.0.1:9101")?;
        let minutes = |key: &str, default: u64| -> Result<time::Duration, ConfigError> {
            Ok(time::Duration::minutes(r.bounded(key, default, 0..=10_080)? as i64))
        };
        let policy = ContactPolicy {
            contact_within: minutes("RENTOPS_ORDER_CONTACT_WITHIN_MINUTES", 120)?,
            urgent_within: minutes("RENTOPS_ORDER_URGENT_PICKUP_MINUTES", 24 * 60)?,
            retry_after: minutes("RENTOPS_ORDER_RETRY_AFTER_MINUTES", 30)?,
        };
        let mut pre_verified_channels = HashSet::new();
        for code in r
            .string("RENTOPS_ORDER_PREVERIFIED_CHANNELS", "")
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            let valid = ["APP", "MINI_PROGRAM", "WEB", "CALL_CENTER"].contains(&code)
                || code.strip_prefix("PARTNER:").is_some_and(|p| !p.is_empty());
            if !valid {
                return Err(ConfigError {
                    key: "RENTOPS_ORDER_PREVERIFIED_CHANNELS".into(),
                    value: code.into(),
                    reason: "expected APP, MINI_PROGRAM, WEB, CALL_CENTER or PARTNER:<code>, comma-separated".into(),
                });
            }
            pre_verified_channels.insert(code.to_owned());
        }
        Ok(Self {
            common,
            settings: OrderSettings {
                policy,
                pre_verified_channels,
            },
            deadline_scan: r.seconds("RENTOPS_ORDER_DEADLINE_SCAN_SECS", 15, 1..=3600)?,
            fleet_plan: fleet_plan::FleetPlanSettings {
                stream: r.string("RENTOPS_ORDER_FLEET_STREAM", "FLEET"),
                ..Default::default()
            },
        })
    }
}

/// A running order service.
pub struct App {
    pub addr: std::net::SocketAddr,
    pub projector: ProjectorHandle,
    pub handler: Arc<CommandHandler<OrderAggregate>>,
    pub db: Db,
    /// How far the confirmation-deadline scan has got (passes finished).
    pub deadline_scan: ProgressWatch,
    /// How far fleet's plan has been folded into the orders (the FLEET stream's sequence).
    pub fleet_plan: ProgressWatch,
    tasks: JoinSet<()>,
}

impl rentops_runtime::ServiceConfig for OrderConfig {
    fn read(env: &dyn Env) -> Result<Self, ConfigError> {
        OrderConfig::read(env)
    }

    fn common(&self) -> &CommonConfig {
        &self.common
    }
}

impl rentops_runtime::RunningService for App {
    fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    async fn join(self) {
        App::join(self).await
    }
}

impl App {
    /// Waits for every task to finish (after the shutdown token was cancelled).
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Starts the service on `listener`; everything stops when `shutdown` is cancelled.
pub async fn start(
    config: OrderConfig,
    listener: tokio::net::TcpListener,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
) -> anyhow::Result<App> {
    let c = &config.common;
    let (store, settings) = rentops_eventstore::open(SERVICE, c).await?;
    let client = store.client().clone();

    let db = Db::connect(&c.database_url).await?;
    db.migrate(
        &sqlx::migrate!("./migrations/sqlite"),
        &sqlx::migrate!("./migrations/postgres"),
    )
    .await
    .context("running the order service's migrations")?;

    let handler = Arc::new(CommandHandler::<OrderAggregate>::new(
        store.clone(),
        HandlerConfig::from_common(c, &settings),
    ));

    let mut tasks = JoinSet::new();
    let projector_settings = ProjectorSettings::from_common(&settings.name, c);
    let (projector, projector_handle) = Projector::new(
        OrdersProjection::new(db.backend),
        db.clone(),
        store.jetstream().clone(),
        projector_settings,
    );
    tasks.spawn(projector.run(shutdown.clone()));
    let (deadline_progress, deadline_scan) = Progress::new();
    tasks.spawn(rentops_reactor::run_scan(
        confirmation_deadline::ConfirmationDeadline {
            handler: handler.clone(),
            db: db.clone(),
            clock: clock.clone(),
        },
        Schedule::every(config.deadline_scan),
        deadline_progress,
        shutdown.clone(),
    ));
    let (fleet_plan_progress, fleet_plan) = Progress::new();
    tasks.spawn(rentops_reactor::run_reactor(
        store.jetstream().clone(),
        config.fleet_plan.subscription(),
        fleet_plan::FleetPlan {
            handler: handler.clone(),
            clock: clock.clone(),
        },
        fleet_plan_progress,
        shutdown.clone(),
    ));

    let (reporter, health, reflection_v1, reflection_v1alpha) = rentops_runtime::grpc::standard_services(
        rentops_proto::FILE_DESCRIPTOR_SET,
        &[
            <pb::order_service_server::OrderServiceServer<OrderApi> as tonic::server::NamedService>::NAME,
            <rentops_proto::admin::projection_admin_server::ProjectionAdminServer<ProjectionAdminApi> as tonic::server::NamedService>::NAME,
        ],
    )
    .await?;
    reporter
        .set_serving::<pb::order_service_server::OrderServiceServer<OrderApi>>()
        .await;
    // Health follows the broker: NOT_SERVING while NATS is unreachable.
    {
        let client = client.clone();
        tasks.spawn(rentops_runtime::grpc::health_follows::<
            pb::order_service_server::OrderServiceServer<OrderApi>,
        >(
            reporter.clone(),
            move || client.connection_state() == async_nats::connection::State::Connected,
            shutdown.clone(),
        ));
    }

    let api = OrderApi {
        handler: handler.clone(),
        db: db.clone(),
        checkpoints: projector_handle.checkpoints.clone(),
        clock,
        settings: config.settings.clone(),
    };
    let admin = ProjectionAdminApi::new(
        store.jetstream().clone(),
        [(
            projections::NAME.to_owned(),
            projector_handle.clone(),
            settings.name.clone(),
        )],
    )?;
    let router = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(pb::order_service_server::OrderServiceServer::new(api))
        // For the `sre` role once callers are authenticated: its interceptor wraps this server.
        .add_service(admin.into_server());
    let addr = listener.local_addr()?;
    let grpc_shutdown = shutdown.clone();
    tasks.spawn(async move {
        if let Err(e) = rentops_runtime::grpc::serve(router, listener, grpc_shutdown).await {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
    Ok(App {
        addr,
        projector: projector_handle,
        handler,
        db,
        deadline_scan,
        fleet_plan,
        tasks,
    })
}
