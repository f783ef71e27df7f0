//! Wiring of the receivables service: configuration, the event log, the projectors (its own
//! stream, and order's and fleet's for who had the car), the ladder and rematch scans, and the
//! gRPC server. `start` takes a bound listener, a clock and a shutdown token, so tests run the
//! whole service in-process on port 0 with a clock they move.

use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::CommandHandler;
use rentops_kernel::{Calendar, Fen};
use rentops_kit::Kit;
use rentops_projection::{Db, ProjectorHandle};
use rentops_proto::receivables as pb;
use rentops_reactor::{ProgressWatch, Schedule};
use rentops_runtime::config::{CommonConfig, ConfigError, ConfigReader, Env};
use rentops_runtime::{Clock, Shutdown};

use crate::api::ReceivablesApi;
use crate::domain::{ClaimAggregate, Ladder, LedgerAggregate, Terms, ViolationAggregate};
use crate::projections::{FleetCustodyProjection, HiresProjection, ReceivablesProjection};
use crate::reactors;

pub const SERVICE: &str = "receivables";

#[derive(Debug, Clone)]
pub struct ReceivablesConfig {
    pub common: CommonConfig,
    /// `RENTOPS_RECEIVABLES_LADDER` (`NOTICE:0,REMINDER:3,…`), `…_DEADLINE_DAYS`,
    /// `…_SERVICE_FEE_FEN`, `…_APPEAL_WORKING_DAYS`.
    pub ladder: Ladder,
    /// `RENTOPS_RECEIVABLES_LADDER_SCAN_SECS`: how often due ladder steps are looked for.
    pub ladder_scan: Duration,
    /// `RENTOPS_CALENDAR_FILE`: holiday notices beyond the embedded ones (optional).
    pub calendar: Arc<Calendar>,
    /// Where the order and fleet services' events are read from (`RENTOPS_RECEIVABLES_ORDER_STREAM`,
    /// `RENTOPS_RECEIVABLES_FLEET_STREAM`, default `ORDER` and `FLEET`).
    pub order_stream: String,
    pub fleet_stream: String,
    /// `RENTOPS_RECEIVABLES_COMPLAINT_STREAM` (default `COMPLAINT`): the complaint cases that
    /// dispute violations and charges.
    pub complaint_stream: String,
    /// `RENTOPS_RECEIVABLES_DEPOSIT_RELEASE_DAYS`: how long after the return a violation deposit
    /// is held (default 30 days).
    pub deposit_release_after: time::Duration,
    /// `RENTOPS_RECEIVABLES_NOTICE_LOG`: the file the local notification gateway writes each
    /// notice to, as a JSON line (unset: the service's log).
    pub notice_log: reactors::notices::NoticeLog,
    /// Repair claims' terms: `RENTOPS_RECEIVABLES_DEDUCTIBLE_FEN` (150000),
    /// `…_LOSS_OF_USE_PER_DAY_FEN` (20000), `…_BASIC_PAYS_LOSS_OF_USE` (true),
    /// `…_ADMIN_FEE_FEN` (10000).
    pub terms: Terms,
}

impl rentops_runtime::ServiceConfig for ReceivablesConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn read(env: &dyn Env) -> Result<Self, ConfigError> {
        let r = ConfigReader::new(env);
        let common = CommonConfig::read(&r, SERVICE, "127.0.0.1:50053", "127.0.0.1:9103")?;
        let defaults = Ladder::default();
        let steps = match r.raw("RENTOPS_RECEIVABLES_LADDER") {
            None => defaults.steps().to_vec(),
            Some(text) => Ladder::parse_steps(&text).map_err(|e| ConfigError {
                key: "RENTOPS_RECEIVABLES_LADDER".into(),
                value: text.clone(),
                reason: e.to_string(),
            })?,
        };
        let ladder = Ladder::new(
            steps,
            r.bounded(
                "RENTOPS_RECEIVABLES_DEADLINE_DAYS",
                u64::from(defaults.deadline_days),
                1..=365,
            )? as u32,
            Fen(r.bounded(
                "RENTOPS_RECEIVABLES_SERVICE_FEE_FEN",
                defaults.service_fee.0 as u64,
                0..=10_000_000,
            )? as i64),
            r.bounded(
                "RENTOPS_RECEIVABLES_APPEAL_WORKING_DAYS",
                u64::from(defaults.appeal_working_days),
                0..=60,
            )? as u32,
        )
        .map_err(|e| ConfigError {
            key: "RENTOPS_RECEIVABLES_LADDER".into(),
            value: r.string("RENTOPS_RECEIVABLES_LADDER", ""),
            reason: e.to_string(),
        })?;
        let mut calendar = Calendar::embedded().map_err(|e| ConfigError {
            key: "RENTOPS_CALENDAR_FILE".into(),
            value: "(embedded)".into(),
            reason: e.to_string(),
        })?;
        if let Some(path) = r.raw("RENTOPS_CALENDAR_FILE") {
            let more = Calendar::from_file(&path).map_err(|e| ConfigError {
                key: "RENTOPS_CALENDAR_FILE".into(),
                value: path.clone(),
                reason: e.to_string(),
            })?;
            calendar.merge(more).map_err(|e| ConfigError {
                key: "RENTOPS_CALENDAR_FILE".into(),
                value: path.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(Self {
            common,
            ladder,
            ladder_scan: r.seconds("RENTOPS_RECEIVABLES_LADDER_SCAN_SECS", 60, 1..=3600)?,
            calendar: Arc::new(calendar),
            order_stream: r.string("RENTOPS_RECEIVABLES_ORDER_STREAM", "ORDER"),
            fleet_stream: r.string("RENTOPS_RECEIVABLES_FLEET_STREAM", "FLEET"),
            complaint_stream: r.string("RENTOPS_RECEIVABLES_COMPLAINT_STREAM", "COMPLAINT"),
            terms: {
                let d = Terms::default();
                let fen = |key: &str, default: Fen| -> Result<Fen, ConfigError> {
                    Ok(Fen(r.bounded(key, default.0 as u64, 0..=100_000_000)? as i64))
                };
                Terms {
                    deductible: fen("RENTOPS_RECEIVABLES_DEDUCTIBLE_FEN", d.deductible)?,
                    loss_of_use_per_day: fen("RENTOPS_RECEIVABLES_LOSS_OF_USE_PER_DAY_FEN", d.loss_of_use_per_day)?,
                    basic_pays_loss_of_use: r
                        .parse("RENTOPS_RECEIVABLES_BASIC_PAYS_LOSS_OF_USE", d.basic_pays_loss_of_use)?,
                    admin_fee: fen("RENTOPS_RECEIVABLES_ADMIN_FEE_FEN", d.admin_fee)?,
                }
            },
            notice_log: match r.raw("RENTOPS_RECEIVABLES_NOTICE_LOG") {
                None => reactors::notices::NoticeLog::Log,
                Some(path) => reactors::notices::NoticeLog::File(path.into()),
            },
            deposit_release_after: time::Duration::days(r.bounded(
                "RENTOPS_RECEIVABLES_DEPOSIT_RELEASE_DAYS",
                30,
                0..=365,
            )? as i64),
        })
    }
}

/// A running receivables service.
pub type App = rentops_kit::App<Parts>;

/// What the receivables service keeps of what it started (tests watch these).
pub struct Parts {
    pub projector: ProjectorHandle,
    pub hires: ProjectorHandle,
    pub fleet: ProjectorHandle,
    pub violations: Arc<CommandHandler<ViolationAggregate>>,
    pub ledgers: Arc<CommandHandler<LedgerAggregate>>,
    pub db: Db,
    /// Passes of the ladder's scan.
    pub ladder_scan: ProgressWatch,
    /// Passes of the rematch scan.
    pub rematch_scan: ProgressWatch,
    /// Passes of the deposits' scan.
    pub deposit_scan: ProgressWatch,
    /// Passes of the scan that opens claims from returns with damage noted.
    pub damage_scan: ProgressWatch,
    pub claims: Arc<CommandHandler<ClaimAggregate>>,
    /// How far the notification gateway has got (this service's stream sequence).
    pub notice_gateway: ProgressWatch,
    /// How far the complaint cases have been heard (the complaint stream's sequence).
    pub disputes: ProgressWatch,
}

/// Starts the service on `listener`; everything stops when `shutdown` is cancelled.
pub async fn start(
    config: ReceivablesConfig,
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
    let violations = kit.handler::<ViolationAggregate>();
    let ledgers = kit.handler::<LedgerAggregate>();
    let claims = kit.handler::<ClaimAggregate>();
    let db = kit.db().clone();
    let projector = kit.project(ReceivablesProjection {
        ladder: config.ladder.clone(),
    });
    let hires = kit.project_from(&config.order_stream, HiresProjection);
    let fleet = kit.project_from(&config.fleet_stream, FleetCustodyProjection);
    let ladder_scan = kit.scan(
        reactors::Ladder {
            violations: violations.clone(),
            ledgers: ledgers.clone(),
            db: db.clone(),
            clock: clock.clone(),
            ladder: config.ladder.clone(),
            calendar: config.calendar.clone(),
        },
        Schedule::every(config.ladder_scan).woken_by(projector.applied()),
    );
    let rematch_scan = kit.scan(
        reactors::Rematch {
            violations: violations.clone(),
            db: db.clone(),
            clock: clock.clone(),
        },
        Schedule::every(config.ladder_scan)
            .woken_by(hires.applied())
            .woken_by(fleet.applied()),
    );
    let deposit_scan = kit.scan(
        reactors::Deposits {
            ledgers: ledgers.clone(),
            db: db.clone(),
            clock: clock.clone(),
            release_after: config.deposit_release_after,
        },
        Schedule::every(config.ladder_scan)
            .woken_by(hires.applied())
            .woken_by(projector.applied()),
    );
    let notice_gateway = kit.react(
        reactors::notices::NoticeGateway::subscription(&kit.stream().name.clone()),
        reactors::notices::NoticeGateway::new(config.notice_log.clone()),
    );
    let disputes = kit.react(
        reactors::disputes::Disputes::subscription(&config.complaint_stream),
        reactors::disputes::Disputes {
            violations: violations.clone(),
            ledgers: ledgers.clone(),
            db: db.clone(),
            clock: clock.clone(),
        },
    );
    let damage_scan = kit.scan(
        reactors::DamageClaims {
            claims: claims.clone(),
            db: db.clone(),
            clock: clock.clone(),
        },
        Schedule::every(config.ladder_scan).woken_by(hires.applied()),
    );
    kit.serve(
        pb::receivables_service_server::ReceivablesServiceServer::new(ReceivablesApi {
            violations: violations.clone(),
            ledgers: ledgers.clone(),
            db: db.clone(),
            checkpoints: projector.checkpoints.clone(),
            clock: clock.clone(),
            ladder: config.ladder.clone(),
            claims: crate::api::ClaimsApi {
                claims: crate::claims::Claims {
                    claims: claims.clone(),
                    ledgers: ledgers.clone(),
                    terms: config.terms,
                },
                db: db.clone(),
                checkpoints: projector.checkpoints.clone(),
                clock,
            },
        }),
        crate::api::POLICY,
    );
    Ok(kit.start(listener).await?.with(Parts {
        projector,
        hires,
        fleet,
        violations,
        ledgers,
        db,
        ladder_scan,
        rematch_scan,
        deposit_scan,
        damage_scan,
        claims,
        notice_gateway,
        disputes,
    }))
}
