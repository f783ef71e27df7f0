//! Wiring of the complaint service: configuration, the event log, the projectors (its own
//! stream, and order's, fleet's and receivables' for what cases link to), the SLA scan, and the
//! gRPC server. `start` takes a bound listener, a clock and a shutdown token, so tests run the
//! whole service in-process on port 0 with a clock they move.

use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::CommandHandler;
use rentops_kernel::Calendar;
use rentops_kit::Kit;
use rentops_projection::{Db, ProjectorHandle};
use rentops_proto::complaint as pb;
use rentops_reactor::{ProgressWatch, Schedule};
use rentops_runtime::config::{CommonConfig, ConfigError, ConfigReader, Env};
use rentops_runtime::{Clock, Shutdown};

use crate::api::ComplaintApi;
use crate::domain::hot_spot::HotSpotAggregate;
use crate::domain::{CaseAggregate, Policies, Taxonomy};
use crate::projections::{ComplaintProjection, FleetProjection, OrdersProjection, ReceivablesLinksProjection};
use crate::reactors;

pub const SERVICE: &str = "complaint";

#[derive(Debug, Clone)]
pub struct ComplaintConfig {
    pub common: CommonConfig,
    /// `RENTOPS_COMPLAINT_TAXONOMY_FILE`: categories, sub-categories and root causes (default:
    /// the embedded `config/taxonomy.toml`).
    pub taxonomy: Arc<Taxonomy>,
    /// `RENTOPS_COMPLAINT_SLA_FILE` (default: the embedded `config/sla.toml`, the standard's
    /// table) and `RENTOPS_COMPLAINT_AT_RISK_PERCENT` (80).
    pub policies: Arc<Policies>,
    /// `RENTOPS_CALENDAR_FILE`: holiday notices beyond the embedded ones, for business hours.
    pub calendar: Arc<Calendar>,
    /// `RENTOPS_COMPLAINT_AUTO_CLOSE_DAYS` (7): a resolved case the customer says nothing more
    /// about closes after this long.
    pub silence: time::Duration,
    /// `RENTOPS_COMPLAINT_SCAN_SECS` (30): the longest time between two passes of the SLA scan.
    pub scan_every: Duration,
    /// `RENTOPS_COMPLAINT_SETTLE_SECS` (30): how long after a case's latest change the scan
    /// leaves it alone, so that a desk entering a case's past steps one by one (each dated
    /// when it happened) is done before the scan raises what the first steps alone reached.
    pub settle: time::Duration,
    /// Where the other services' events are read from (`RENTOPS_COMPLAINT_ORDER_STREAM`,
    /// `…_FLEET_STREAM`, `…_RECEIVABLES_STREAM`; default `ORDER`, `FLEET`, `RECEIVABLES`).
    pub order_stream: String,
    pub fleet_stream: String,
    pub receivables_stream: String,
    /// Hot spots: `RENTOPS_COMPLAINT_HOT_SPOT_PERIOD_DAYS` (7, weeks from Monday),
    /// `…_HOT_SPOT_MIN_RISE_PERCENT` (50), `…_HOT_SPOT_MIN_CASES` (5).
    pub hot_spot_period_days: i64,
    pub hot_spot_rule: rentops_insight::HotSpotRule,
    /// `RENTOPS_COMPLAINT_KEYWORDS`: words to keep whole in complaint texts, beyond the
    /// built-in domain words (comma-separated).
    pub extra_words: Vec<String>,
}

fn config_error(key: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError {
        key: key.into(),
        value: value.into(),
        reason: reason.to_string(),
    }
}

impl rentops_runtime::ServiceConfig for ComplaintConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn read(env: &dyn Env) -> Result<Self, ConfigError> {
        let r = ConfigReader::new(env);
        let common = CommonConfig::read(&r, SERVICE, "127.0.0.1:50054", "127.0.0.1:9104")?;
        let read_file = |key: &str, path: &str| {
            std::fs::read_to_string(path).map_err(|e| config_error(key, path, format!("cannot read it: {e}")))
        };
        let taxonomy = match r.raw("RENTOPS_COMPLAINT_TAXONOMY_FILE") {
            None => {
                Taxonomy::embedded().map_err(|e| config_error("RENTOPS_COMPLAINT_TAXONOMY_FILE", "(embedded)", e))?
            }
            Some(path) => {
                let text = read_file("RENTOPS_COMPLAINT_TAXONOMY_FILE", &path)?;
                Taxonomy::from_toml(&text).map_err(|e| config_error("RENTOPS_COMPLAINT_TAXONOMY_FILE", &path, e))?
            }
        };
        let at_risk = r.bounded("RENTOPS_COMPLAINT_AT_RISK_PERCENT", 80, 1..=99)? as u32;
        let policies = match r.raw("RENTOPS_COMPLAINT_SLA_FILE") {
            None => Policies::from_toml(crate::domain::sla::DEFAULT_POLICIES, at_risk)
                .map_err(|e| config_error("RENTOPS_COMPLAINT_SLA_FILE", "(embedded)", e))?,
            Some(path) => {
                let text = read_file("RENTOPS_COMPLAINT_SLA_FILE", &path)?;
                Policies::from_toml(&text, at_risk).map_err(|e| config_error("RENTOPS_COMPLAINT_SLA_FILE", &path, e))?
            }
        };
        // Every policy's categories must be the taxonomy's: a typo would never match.
        for p in policies.policies() {
            for c in &p.category {
                if taxonomy.category(c).is_none() {
                    return Err(config_error(
                        "RENTOPS_COMPLAINT_SLA_FILE",
                        &r.string("RENTOPS_COMPLAINT_SLA_FILE", "(embedded)"),
                        format!(
                            "policy {:?} names category {c:?}, which the taxonomy does not have",
                            p.name
                        ),
                    ));
                }
            }
        }
        let mut calendar = Calendar::embedded().map_err(|e| config_error("RENTOPS_CALENDAR_FILE", "(embedded)", e))?;
        if let Some(path) = r.raw("RENTOPS_CALENDAR_FILE") {
            let more = Calendar::from_file(&path).map_err(|e| config_error("RENTOPS_CALENDAR_FILE", &path, e))?;
            calendar
                .merge(more)
                .map_err(|e| config_error("RENTOPS_CALENDAR_FILE", &path, e))?;
        }
        Ok(Self {
            common,
            taxonomy: Arc::new(taxonomy),
            policies: Arc::new(policies),
            calendar: Arc::new(calendar),
            silence: time::Duration::days(r.bounded("RENTOPS_COMPLAINT_AUTO_CLOSE_DAYS", 7, 1..=365)? as i64),
            scan_every: r.seconds("RENTOPS_COMPLAINT_SCAN_SECS", 30, 1..=3600)?,
            settle: time::Duration::seconds(r.bounded("RENTOPS_COMPLAINT_SETTLE_SECS", 30, 0..=3600)? as i64),
            order_stream: r.string("RENTOPS_COMPLAINT_ORDER_STREAM", "ORDER"),
            fleet_stream: r.string("RENTOPS_COMPLAINT_FLEET_STREAM", "FLEET"),
            receivables_stream: r.string("RENTOPS_COMPLAINT_RECEIVABLES_STREAM", "RECEIVABLES"),
            hot_spot_period_days: r.bounded("RENTOPS_COMPLAINT_HOT_SPOT_PERIOD_DAYS", 7, 1..=92)? as i64,
            hot_spot_rule: rentops_insight::HotSpotRule {
                min_rise_percent: r.bounded("RENTOPS_COMPLAINT_HOT_SPOT_MIN_RISE_PERCENT", 50, 1..=10_000)? as u32,
                min_cases: r.bounded("RENTOPS_COMPLAINT_HOT_SPOT_MIN_CASES", 5, 1..=100_000)? as u32,
            },
            extra_words: r
                .string("RENTOPS_COMPLAINT_KEYWORDS", "")
                .split(',')
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty())
                .collect(),
        })
    }
}

/// A running complaint service.
pub type App = rentops_kit::App<Parts>;

/// What the complaint service keeps of what it started (tests watch these).
pub struct Parts {
    /// The cases' projection (this service's own stream).
    pub projector: ProjectorHandle,
    pub orders: ProjectorHandle,
    pub fleet: ProjectorHandle,
    pub receivables: ProjectorHandle,
    pub cases: Arc<CommandHandler<CaseAggregate>>,
    pub db: Db,
    /// Passes of the SLA and auto-close scan.
    pub sla_scan: ProgressWatch,
    /// Passes of the hot-spot scan.
    pub hot_spot_scan: ProgressWatch,
}

/// Starts the service on `listener`; everything stops when `shutdown` is cancelled.
pub async fn start(
    config: ComplaintConfig,
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
    let cases = kit.handler::<CaseAggregate>();
    let db = kit.db().clone();
    let projector = kit.project(ComplaintProjection {
        policies: config.policies.clone(),
        calendar: config.calendar.clone(),
        silence: config.silence,
        settle: config.settle,
    });
    let orders = kit.project_from(&config.order_stream, OrdersProjection);
    let fleet = kit.project_from(&config.fleet_stream, FleetProjection);
    let receivables = kit.project_from(&config.receivables_stream, ReceivablesLinksProjection);
    let sla_scan = kit.scan(
        reactors::SlaScan {
            cases: cases.clone(),
            db: db.clone(),
            clock: clock.clone(),
            policies: config.policies.clone(),
            calendar: config.calendar.clone(),
            silence: config.silence,
        },
        Schedule::every(config.scan_every).woken_by(projector.applied()),
    );
    let keywords = Arc::new(rentops_insight::Keywords::new(&config.extra_words));
    let hot_spot_scan = kit.scan(
        reactors::hot_spots::HotSpotScan {
            hot_spots: kit.handler::<HotSpotAggregate>(),
            db: db.clone(),
            clock: clock.clone(),
            keywords: keywords.clone(),
            rule: config.hot_spot_rule,
            period_days: config.hot_spot_period_days,
        },
        Schedule::every(config.scan_every),
    );
    kit.serve(
        pb::complaint_service_server::ComplaintServiceServer::new(ComplaintApi {
            links: crate::api::LinkViews {
                js: kit.store().jetstream().clone(),
                views: vec![
                    (config.order_stream.clone(), orders.checkpoints.clone()),
                    (config.fleet_stream.clone(), fleet.checkpoints.clone()),
                    (config.receivables_stream.clone(), receivables.checkpoints.clone()),
                ],
            },
            cases: cases.clone(),
            db: db.clone(),
            checkpoints: projector.checkpoints.clone(),
            clock,
            taxonomy: config.taxonomy.clone(),
            policies: config.policies.clone(),
            calendar: config.calendar.clone(),
            keywords,
        }),
        crate::api::POLICY,
    );
    Ok(kit.start(listener).await?.with(Parts {
        projector,
        orders,
        fleet,
        receivables,
        cases,
        db,
        sla_scan,
        hot_spot_scan,
    }))
}
