//! Wiring of the order service: configuration, the event log, the projector, the deadline scan
//! and the gRPC server. `start` takes a bound listener and a shutdown token, so tests run the
//! whole service in-process on port 0.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::CommandHandler;
use rentops_kit::Kit;
use rentops_projection::{Db, ProjectorHandle};
use rentops_proto::order as pb;
use rentops_reactor::{ProgressWatch, Schedule};
use rentops_runtime::config::{CommonConfig, ConfigError, ConfigReader, Env};
use rentops_runtime::{Clock, Shutdown};

use crate::api::{OrderApi, OrderSettings};
use crate::domain::{ContactPolicy, OrderAggregate};
use crate::projections::OrdersProjection;
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

impl rentops_runtime::ServiceConfig for OrderConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn read(env: &dyn Env) -> Result<Self, ConfigError> {
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
pub type App = rentops_kit::App<Parts>;

/// What the order service keeps of what it started.
pub struct Parts {
    pub projector: ProjectorHandle,
    pub handler: Arc<CommandHandler<OrderAggregate>>,
    pub db: Db,
    /// How far the confirmation-deadline scan has got (passes finished).
    pub deadline_scan: ProgressWatch,
    /// How far fleet's plan has been folded into the orders (the FLEET stream's sequence).
    pub fleet_plan: ProgressWatch,
}

/// Starts the service on `listener`; everything stops when `shutdown` is cancelled.
pub async fn start(
    config: OrderConfig,
    listener: tokio::net::TcpListener,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
) -> Result<App, rentops_kit::StartError> {
    let mut kit = Kit::open(
        SERVICE,
        &config.common,
        rentops_kit::migrations_per_backend!(),
        shutdown,
    )
    .await?;
    let handler = kit.handler::<OrderAggregate>();
    let db = kit.db().clone();
    let projector = kit.project(OrdersProjection::new(db.backend));
    let deadline_scan = kit.scan(
        confirmation_deadline::ConfirmationDeadline {
            handler: handler.clone(),
            db: db.clone(),
            clock: clock.clone(),
        },
        Schedule::every(config.deadline_scan),
    );
    let fleet_plan = kit.react(
        config.fleet_plan.subscription(),
        fleet_plan::FleetPlan {
            handler: handler.clone(),
            clock: clock.clone(),
        },
    );
    kit.serve(
        pb::order_service_server::OrderServiceServer::new(OrderApi {
            handler: handler.clone(),
            db: db.clone(),
            checkpoints: projector.checkpoints.clone(),
            clock,
            settings: config.settings.clone(),
        }),
        crate::api::POLICY,
    );
    Ok(kit.start(listener).await?.with(Parts {
        projector,
        handler,
        db,
        deadline_scan,
        fleet_plan,
    }))
}
