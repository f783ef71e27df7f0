//! The complaint service's time-driven steps: scans over its own read model that issue commands
//! with request ids fixed by what they are about, so however many replicas run them each step
//! happens once.
//!
//! - [`SlaScan`]: every case whose next due instant has come (the projection's due index) is
//!   read from the log and each threshold it has reached is raised — at risk, breached (and
//!   escalated to a supervisor) — under the request id `sla:<case>:<clock>:<threshold>`; a
//!   resolved case silent for the configured time is closed under
//!   `auto-close:<case>:<resolution time>`. The aggregate itself refuses a second raise, so a
//!   replica that lost the race appends nothing.
//! - [`hot_spots::HotSpotScan`]: after each period, the categories up sharply on the period
//!   before are raised as hot spots, each once.

pub mod hot_spots;

use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::{CommandHandler, CommandMeta, ExecuteError};
use rentops_kernel::Calendar;
use rentops_projection::Db;
use rentops_reactor::Scan;
use rentops_runtime::Clock;
use time::OffsetDateTime;

use crate::domain::{CaseAggregate, CaseCommand, CaseError, Due, Policies};
use crate::projections::queries::{self, QueryError};

/// The most cases one pass handles; a full pass asks for another at once.
const BATCH: usize = 500;

fn system_meta(request_id: String, case_id: &str, actor: &str, now: OffsetDateTime) -> CommandMeta {
    CommandMeta {
        causation_id: request_id.clone(),
        request_id,
        // Derived from what is due: nobody reuses it by mistake.
        fingerprint: None,
        correlation_id: format!("case:{case_id}"),
        actor: actor.to_owned(),
        time: now,
    }
}

pub struct SlaScan {
    pub cases: Arc<CommandHandler<CaseAggregate>>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub policies: Arc<Policies>,
    pub calendar: Arc<Calendar>,
    /// How long after its resolution a silent case closes.
    pub silence: time::Duration,
}

impl Scan for SlaScan {
    type Error = QueryError;

    fn name(&self) -> &str {
        "complaint-sla"
    }

    async fn pass(&self) -> Result<Option<Duration>, QueryError> {
        let (found, _) = self.scan_once().await?;
        Ok((found == BATCH).then_some(Duration::ZERO))
    }
}

impl SlaScan {
    /// One pass: how many due cases it found, and how many events it appended.
    pub async fn scan_once(&self) -> Result<(usize, u32), QueryError> {
        let now = self.clock.now();
        let due = queries::due_cases(&self.db, now, BATCH).await?;
        let found = due.len();
        let mut appended = 0;
        for id in due {
            match self.handle(&id, now).await {
                Ok(n) => appended += n,
                Err(e) => tracing::warn!(case_id = %id, error = %e, "SLA step failed; the next pass retries"),
            }
        }
        Ok((found, appended))
    }

    async fn handle(&self, id: &str, now: OffsetDateTime) -> Result<u32, String> {
        let (state, _) = self.cases.state(id).await.map_err(|e| e.to_string())?;
        let items = state
            .due_at(&self.policies, &self.calendar, self.silence, now)
            .map_err(|e| e.to_string())?;
        let mut appended = 0;
        for item in items {
            let (request_id, command, actor) = match item {
                Due::Sla(clock, threshold) => (
                    format!("sla:{id}:{}:{}", clock.code(), threshold.code()),
                    CaseCommand::RaiseSla {
                        clock,
                        threshold,
                        policies: self.policies.clone(),
                        calendar: self.calendar.clone(),
                        at: now,
                    },
                    "system:sla",
                ),
                Due::AutoClose => (
                    format!(
                        "auto-close:{id}:{}",
                        state.resolution.as_ref().map_or(0, |r| r.at.unix_timestamp())
                    ),
                    CaseCommand::AutoClose {
                        silence: self.silence,
                        at: now,
                    },
                    "system:auto-close",
                ),
            };
            let meta = system_meta(request_id, id, actor, now);
            match self.cases.execute(id, &meta, &command, false).await {
                Ok(done) => {
                    if done.events_appended > 0 && !done.replayed {
                        appended += done.events_appended;
                        let what = match item {
                            Due::Sla(clock, threshold) => format!("{}:{}", clock.code(), threshold.code()),
                            Due::AutoClose => "auto_close".to_owned(),
                        };
                        metrics::counter!("rentops_complaint_sla_steps_total", "step" => what).increment(1);
                    }
                }
                // Decided on fresher state than the scan read: another replica, or the desk, got
                // there first (the clock stopped, the case closed); nothing to do.
                Err(ExecuteError::Domain(
                    CaseError::NotReached { .. }
                    | CaseError::ClockStopped(_)
                    | CaseError::NotResolved
                    | CaseError::NotSilentYet { .. },
                )) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(appended)
    }
}
