//! Wiring of the fleet service: configuration, the event log, the two projectors (the fleet's
//! own stream, and the demand from ORDER), the reactors and the gRPC server. `start` takes a
//! bound listener and a shutdown token, so tests run the whole service in-process on port 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rentops_eventstore::{CommandHandler, HandlerConfig};
use rentops_projection::{Db, ProjectionAdminApi, Projector, ProjectorHandle, ProjectorSettings};
use rentops_proto::fleet as pb;
use rentops_reactor::{Progress, ProgressWatch};
use rentops_runtime::config::{CommonConfig, ConfigError, ConfigReader, Env};
use rentops_runtime::{Clock, Shutdown};
use tokio::task::JoinSet;

use crate::api::FleetApi;
use crate::domain::city::CityAggregate;
use crate::domain::driver::DriverAggregate;
use crate::domain::plan::PlanAggregate;
use crate::domain::vehicle::VehicleAggregate;
use crate::projections::{self, DemandProjection, FleetProjection};
use crate::reactors::{self, ReplanSettings};

pub const SERVICE: &str = "fleet";
/// The order service's stream, whose events are the demand.
pub const ORDER_STREAM: &str = "ORDER";

#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub common: CommonConfig,
    pub replan: ReplanSettings,
}

impl FleetConfig {
    pub fn read(env: &dyn Env) -> Result<Self, ConfigError> {
        let r = ConfigReader::new(env);
        let common = CommonConfig::read(&r, SERVICE, "127.0.0.1:50052", "127.0.0.1:9102")?;
        let replan = ReplanSettings {
            // RENTOPS_FLEET_HORIZON_HOURS: a plan covers now .. now + this (default 7 days).
            horizon: time::Duration::hours(r.bounded("RENTOPS_FLEET_HORIZON_HOURS", 168, 1..=24 * 92)? as i64),
            // RENTOPS_FLEET_REPLAN_DEBOUNCE_MS: changes of a city are gathered this long into one re-plan.
            debounce: Duration::from_millis(r.bounded("RENTOPS_FLEET_REPLAN_DEBOUNCE_MS", 300, 0..=60_000)?),
            options: rentops_planner::PlanOptions::default(),
        };
        Ok(Self { common, replan })
    }
}

/// A running fleet service.
pub struct App {
    pub addr: std::net::SocketAddr,
    pub fleet_projector: ProjectorHandle,
    pub demand_projector: ProjectorHandle,
    pub db: Db,
    /// How far the reactions (re-plans, handover readings) have got: passes finished.
    pub reactions: ProgressWatch,
    tasks: JoinSet<()>,
}

impl rentops_runtime::ServiceConfig for FleetConfig {
    fn read(env: &dyn Env) -> Result<Self, ConfigError> {
        FleetConfig::read(env)
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
    config: FleetConfig,
    listener: tokio::net::TcpListener,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
) -> anyhow::Result<App> {
    let c = &config.common;
    let (store, settings) = rentops_eventstore::open(SERVICE, c).await?;
    let client = store.client().clone();

    let db = Db::connect(&c.database_url).await?;
    // Fleet's SQL is the same on both backends: one set of migrations serves both.
    let migrations = sqlx::migrate!("./migrations");
    db.migrate(&migrations, &migrations)
        .await
        .context("running the fleet service's migrations")?;

    let handler_config = HandlerConfig::from_common(c, &settings);
    let vehicles = Arc::new(CommandHandler::<VehicleAggregate>::new(
        store.clone(),
        handler_config.clone(),
    ));
    let drivers = Arc::new(CommandHandler::<DriverAggregate>::new(
        store.clone(),
        handler_config.clone(),
    ));
    let cities = Arc::new(CommandHandler::<CityAggregate>::new(
        store.clone(),
        handler_config.clone(),
    ));
    let plans = Arc::new(CommandHandler::<PlanAggregate>::new(store.clone(), handler_config));

    let mut tasks = JoinSet::new();
    let projector_settings = |stream: &str| ProjectorSettings::from_common(stream, c);
    let (fleet_projector, fleet_handle) = Projector::new(
        FleetProjection,
        db.clone(),
        store.jetstream().clone(),
        projector_settings(&settings.name),
    );
    tasks.spawn(fleet_projector.run(shutdown.clone()));
    // The demand: a consumer of the order service's stream (durable `projector-fleet-demand`,
    // lease `projector.fleet-demand`), checkpointed in the fleet's own database. Until the ORDER
    // stream exists it retries, saying so.
    let (demand_projector, demand_handle) = Projector::new(
        DemandProjection,
        db.clone(),
        store.jetstream().clone(),
        projector_settings(ORDER_STREAM),
    );
    tasks.spawn(demand_projector.run(shutdown.clone()));
    let (reactions_progress, reactions) = Progress::new();
    tasks.spawn(rentops_reactor::run_scan(
        reactors::Reactions {
            vehicles: vehicles.clone(),
            plans: plans.clone(),
            db: db.clone(),
            clock: clock.clone(),
            settings: config.replan.clone(),
        },
        reactors::schedule(fleet_handle.applied(), demand_handle.applied()),
        reactions_progress,
        shutdown.clone(),
    ));

    let (reporter, health, reflection_v1, reflection_v1alpha) = rentops_runtime::grpc::standard_services(
        rentops_proto::FILE_DESCRIPTOR_SET,
        &[
            <pb::fleet_service_server::FleetServiceServer<FleetApi> as tonic::server::NamedService>::NAME,
            <rentops_proto::admin::projection_admin_server::ProjectionAdminServer<ProjectionAdminApi> as tonic::server::NamedService>::NAME,
        ],
    )
    .await?;
    reporter
        .set_serving::<pb::fleet_service_server::FleetServiceServer<FleetApi>>()
        .await;
    // Health follows the broker: NOT_SERVING while NATS is unreachable.
    {
        let client = client.clone();
        tasks.spawn(rentops_runtime::grpc::health_follows::<
            pb::fleet_service_server::FleetServiceServer<FleetApi>,
        >(
            reporter.clone(),
            move || client.connection_state() == async_nats::connection::State::Connected,
            shutdown.clone(),
        ));
    }

    let api = FleetApi {
        vehicles,
        drivers,
        cities,
        plans,
        db: db.clone(),
        checkpoints: fleet_handle.checkpoints.clone(),
        clock,
        replan: config.replan.clone(),
    };
    let admin = ProjectionAdminApi::new(
        store.jetstream().clone(),
        [
            (
                projections::FLEET.to_owned(),
                fleet_handle.clone(),
                settings.name.clone(),
            ),
            (
                projections::DEMAND.to_owned(),
                demand_handle.clone(),
                ORDER_STREAM.to_owned(),
            ),
        ],
    )?;
    let router = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            pb::fleet_service_server::FleetServiceServer::new(api)
                .max_decoding_message_size(crate::api::MAX_INSTANCE_BYTES + 1024 * 1024),
        )
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
        fleet_projector: fleet_handle,
        demand_projector: demand_handle,
        db,
        reactions,
        tasks,
    })
}
