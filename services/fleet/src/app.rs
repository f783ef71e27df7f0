//! Wiring of the fleet service: configuration, the event log, the two projectors (the fleet's
//! own stream, and the demand from ORDER), the reactors and the gRPC server. `start` takes a
//! bound listener and a shutdown token, so tests run the whole service in-process on port 0.

use std::sync::Arc;
use std::time::Duration;

use rentops_kit::{Kit, Migrations};
use rentops_projection::{Db, ProjectorHandle};
use rentops_proto::fleet as pb;
use rentops_reactor::ProgressWatch;
use rentops_runtime::config::{CommonConfig, ConfigError, ConfigReader, Env};
use rentops_runtime::{Clock, Shutdown};

use crate::api::FleetApi;
use crate::domain::city::CityAggregate;
use crate::domain::driver::DriverAggregate;
use crate::domain::plan::PlanAggregate;
use crate::domain::vehicle::VehicleAggregate;
use crate::projections::{DemandProjection, FleetProjection};
use crate::reactors::{self, ReplanSettings};

pub const SERVICE: &str = "fleet";
/// The order service's stream, whose events are the demand.
pub const ORDER_STREAM: &str = "ORDER";

#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub common: CommonConfig,
    pub replan: ReplanSettings,
}

impl rentops_runtime::ServiceConfig for FleetConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn read(env: &dyn Env) -> Result<Self, ConfigError> {
        let r = ConfigReader::new(env);
        let common = CommonConfig::read(&r, SERVICE, "127.0.0.1:50052", "127.0.0.1:9102")?;
        let replan = ReplanSettings {
            // RENTOPS_FLEET_HORIZON_HOURS: a plan covers now .. now + this (default 7 days).
            horizon: time::Duration::hours(r.bounded("RENTOPS_FLEET_HORIZON_HOURS", 168, 1..=24 * 92)? as i64),
            // RENTOPS_FLEET_REPLAN_DEBOUNCE_MS: changes of a city are gathered this long into one re-plan.
            debounce: Duration::from_millis(r.bounded("RENTOPS_FLEET_REPLAN_DEBOUNCE_MS", 300, 0..=60_000)?),
            options: rentops_planner::PlanOptions::default(),
            handover_grace: time::Duration::minutes(r.bounded(
                "RENTOPS_FLEET_HANDOVER_GRACE_MINUTES",
                30,
                0..=24 * 60,
            )? as i64),
            late_pickup_grace: time::Duration::hours(r.bounded(
                "RENTOPS_FLEET_LATE_PICKUP_GRACE_HOURS",
                24,
                1..=24 * 14,
            )? as i64),
        };
        Ok(Self { common, replan })
    }
}

/// A running fleet service.
pub type App = rentops_kit::App<Parts>;

/// What the fleet service keeps of what it started.
pub struct Parts {
    pub fleet_projector: ProjectorHandle,
    pub demand_projector: ProjectorHandle,
    pub db: Db,
    /// How far the reactions (re-plans, handover readings) have got: passes finished.
    pub reactions: ProgressWatch,
}

/// Starts the service on `listener`; everything stops when `shutdown` is cancelled.
pub async fn start(
    config: FleetConfig,
    listener: tokio::net::TcpListener,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
) -> Result<App, rentops_kit::StartError> {
    // Fleet's SQL is the same on both backends: one set of migrations serves both.
    let migrations = sqlx::migrate!("./migrations");
    let mut kit = Kit::open(SERVICE, &config.common, Migrations::portable(&migrations), shutdown).await?;
    let vehicles = kit.handler::<VehicleAggregate>();
    let drivers = kit.handler::<DriverAggregate>();
    let cities = kit.handler::<CityAggregate>();
    let plans = kit.handler::<PlanAggregate>();
    let plates = kit.handler::<crate::domain::plate::PlateAggregate>();
    let db = kit.db().clone();

    let fleet_projector = kit.project(FleetProjection);
    // The demand: a consumer of the order service's stream (durable `projector-fleet-demand`,
    // lease `projector.fleet-demand`), checkpointed in the fleet's own database.
    let demand_projector = kit.project_from(ORDER_STREAM, DemandProjection);
    let reactions = kit.scan(
        reactors::Reactions {
            vehicles: vehicles.clone(),
            plans: plans.clone(),
            db: db.clone(),
            clock: clock.clone(),
            settings: config.replan.clone(),
        },
        reactors::schedule(fleet_projector.applied(), demand_projector.applied()),
    );
    kit.serve(
        pb::fleet_service_server::FleetServiceServer::new(FleetApi {
            vehicles,
            drivers,
            cities,
            plans,
            plates,
            db: db.clone(),
            checkpoints: fleet_projector.checkpoints.clone(),
            clock,
            replan: config.replan.clone(),
        })
        .max_decoding_message_size(crate::api::MAX_INSTANCE_BYTES + 1024 * 1024),
        crate::api::POLICY,
    );
    Ok(kit.start(listener).await?.with(Parts {
        fleet_projector,
        demand_projector,
        db,
        reactions,
    }))
}
