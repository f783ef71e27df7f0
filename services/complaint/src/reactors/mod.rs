//! The complaint service's time-driven steps: scans over its own read model that issue commands
//! with request ids fixed by what they are about, so however many replicas run them each step
//! happens once.
//!
//! - [`SlaScan`]: every case whose next due instant has come (the projection's due index) is
//!   read from the log and each threshold it has reached is raised — at risk, breached (and
//!   escalated to a supervisor) — under the request id `sla:<case>:<clock>:<threshold>`; a
//!   resolved case silent for the configured time is closed under
//!   `auto-close:<case>:<resolution time>`. Each is dated when it fell due (a case entered late
//!   reached its thresholds in the past; one pass raises them all), or as of the case's latest
//!   change if that is later: the scan never writes a case's history out of order. The aggregate itself refuses a second raise, so a
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

use crate::domain::{Case, CaseAggregate, CaseCommand, CaseError, ClockKind, Due, Policies, Threshold};
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
        publish_backlog(&sla_backlog(&self.db).await?);
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

/// The clocks still running past a threshold, per (city, clock, threshold): `at_risk` counts a
/// clock raised at risk and not yet breached, `breached` one raised breached. A clock that has
/// stopped (answered, resolved) is no longer anyone's backlog, however it ended.
pub type Backlog = std::collections::BTreeMap<(String, &'static str, &'static str), u64>;

/// Adds `case` (of `city`, '' when the case names no order) to `backlog`.
pub fn count_case(backlog: &mut Backlog, city: &str, case: &Case) {
    let city = if city.is_empty() { "none" } else { city };
    for clock in ClockKind::ALL {
        if case.run(clock).stopped {
            continue;
        }
        let threshold = if case.raised.contains(&(clock, Threshold::Breached)) {
            Threshold::Breached
        } else if case.raised.contains(&(clock, Threshold::AtRisk)) {
            Threshold::AtRisk
        } else {
            continue;
        };
        *backlog
            .entry((city.to_owned(), clock.code(), threshold.code()))
            .or_default() += 1;
    }
}

/// The backlog over every case still being worked on (only those have running clocks).
pub async fn sla_backlog(db: &Db) -> Result<Backlog, QueryError> {
    use sqlx::Row as _;
    let rows = sqlx::query("SELECT city, state FROM cp_cases WHERE status NOT IN ('RESOLVED', 'CLOSED')")
        .fetch_all(&db.pool)
        .await?;
    let mut backlog = Backlog::new();
    for r in &rows {
        let city: String = r.try_get(0)?;
        let json: String = r.try_get(1)?;
        let case: Case = serde_json::from_str(&json).map_err(|e| QueryError::Corrupt(Box::new(e)))?;
        count_case(&mut backlog, &city, &case);
    }
    Ok(backlog)
}

/// The label sets published so far in this process: one that has nothing any more is set back
/// to 0 rather than left showing its last count.
static PUBLISHED: std::sync::Mutex<std::collections::BTreeSet<(String, &'static str, &'static str)>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Sets `rentops_complaint_sla_clocks_at_risk{city,clock}` and
/// `rentops_complaint_sla_clocks_breached{city,clock}`: the running clocks of open cases past
/// each threshold when the last SLA pass began.
pub fn publish_backlog(backlog: &Backlog) {
    metrics::describe_gauge!(
        "rentops_complaint_sla_clocks_at_risk",
        "Running SLA clocks of open cases raised at risk and not breached, per city and clock"
    );
    metrics::describe_gauge!(
        "rentops_complaint_sla_clocks_breached",
        "Running SLA clocks of open cases past their target, per city and clock"
    );
    let set = |(city, clock, threshold): &(String, &'static str, &'static str), n: u64| {
        let name = if *threshold == Threshold::Breached.code() {
            "rentops_complaint_sla_clocks_breached"
        } else {
            "rentops_complaint_sla_clocks_at_risk"
        };
        metrics::gauge!(name, "city" => city.clone(), "clock" => *clock).set(n as f64);
    };
    let mut published = PUBLISHED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for key in published.iter() {
        if !backlog.contains_key(key) {
            set(key, 0);
        }
    }
    for (key, n) in backlog {
        set(key, *n);
        published.insert(key.clone());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use rentops_testkit::metrics::{rendered, value};

    fn case(raised: &[(ClockKind, Threshold)]) -> Case {
        Case {
            raised: raised.iter().copied().collect(),
            ..Case::default()
        }
    }

    async fn insert(db: &Db, id: &str, city: &str, status: &str, state: &Case) {
        sqlx::query(
            "INSERT INTO cp_cases (case_id, customer_id, order_id, vehicle_id, violation_id, claim_id, \
             charge_booking_id, channel, category, sub_category, severity, status, agent, root_cause, city, \
             vehicle_model, order_channel, opened_us, reopened, escalated, text, state, last_sequence) \
             VALUES ($1, 'C1', '', '', '', '', '', 'APP', 'service', '', 'P2', $2, '', '', $3, '', '', 0, 0, 0, '', $4, 1)",
        )
        .bind(id.to_owned())
        .bind(status.to_owned())
        .bind(city.to_owned())
        .bind(serde_json::to_string(state).unwrap())
        .execute(&db.pool)
        .await
        .unwrap();
    }

    #[test]
    fn only_running_clocks_past_a_threshold_are_backlog() {
        let (fr, res) = (ClockKind::FirstResponse, ClockKind::Resolution);
        let (risk, breach) = (Threshold::AtRisk, Threshold::Breached);
        let mut backlog = Backlog::new();
        // Nothing raised: nobody's backlog.
        count_case(&mut backlog, "SHA", &case(&[]));
        // First response at risk, resolution breached: one of each.
        count_case(&mut backlog, "SHA", &case(&[(fr, risk), (res, risk), (res, breach)]));
        // Breached before it was answered: the first-response clock has stopped.
        let mut answered = case(&[(fr, risk), (fr, breach)]);
        answered.first_response_at = Some(time::OffsetDateTime::UNIX_EPOCH);
        count_case(&mut backlog, "SHA", &answered);
        // Linked to no order: its own city label.
        count_case(&mut backlog, "", &case(&[(fr, breach)]));
        assert_eq!(
            backlog,
            Backlog::from([
                (("SHA".to_owned(), "first_response", "at_risk"), 1),
                (("SHA".to_owned(), "resolution", "breached"), 1),
                (("none".to_owned(), "first_response", "breached"), 1),
            ])
        );
    }

    #[tokio::test]
    async fn the_backlog_reads_the_open_cases_and_its_gauges_go_back_to_zero() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("cp.db").display()))
            .await
            .unwrap();
        let migrations = sqlx::migrate!("./migrations/sqlite");
        db.migrate(&migrations, &migrations).await.unwrap();
        let breached = case(&[
            (ClockKind::Resolution, Threshold::AtRisk),
            (ClockKind::Resolution, Threshold::Breached),
        ]);
        insert(&db, "k1", "SHA", "INVESTIGATING", &breached).await;
        insert(&db, "k2", "SHA", "WAITING_ON_CUSTOMER", &breached).await;
        insert(
            &db,
            "k3",
            "BJS",
            "OPEN",
            &case(&[(ClockKind::FirstResponse, Threshold::AtRisk)]),
        )
        .await;
        // Resolved and closed cases have no running clock, whatever they raised.
        let mut resolved = breached.clone();
        resolved.status = crate::domain::case::Status::Resolved;
        insert(&db, "k4", "SHA", "RESOLVED", &resolved).await;
        let mut closed = breached.clone();
        closed.status = crate::domain::case::Status::Closed;
        insert(&db, "k5", "SHA", "CLOSED", &closed).await;

        let backlog = sla_backlog(&db).await.unwrap();
        let text = rendered(|| publish_backlog(&backlog));
        let sha = r#"rentops_complaint_sla_clocks_breached{city="SHA",clock="resolution"}"#;
        let bjs = r#"rentops_complaint_sla_clocks_at_risk{city="BJS",clock="first_response"}"#;
        assert_eq!(value(&text, sha), Some(2.0), "{text}");
        assert_eq!(value(&text, bjs), Some(1.0), "{text}");

        // Answered and resolved since: the next pass sets both back to 0.
        let text = rendered(|| publish_backlog(&Backlog::new()));
        assert_eq!(value(&text, sha), Some(0.0), "{text}");
        assert_eq!(value(&text, bjs), Some(0.0), "{text}");
    }
}
