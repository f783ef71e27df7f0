//! The time-driven and event-driven steps of receivables, each a scan over the read models that
//! issues commands with request ids fixed by what they are about, so however many replicas run
//! them each step happens once.
//!
//! - [`Ladder`]: every violation whose next ladder step is due takes it; the charge step first
//!   books the fine and the service fee on the renter's ledger under a booking id derived from
//!   the violation (a retry finds the booking made and goes on).
//! - [`notices::NoticeGateway`]: the notices the steps send, handed to the notification
//!   gateway.
//! - [`Rematch`]: a late pickup, swap, return, plate change or move may explain a violation
//!   differently: the violations around each such change are matched again.

pub mod disputes;
pub mod notices;

use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::{CommandHandler, CommandMeta, ExecuteError};
use rentops_kernel::{Calendar, CityCode, CustomerId, Fen, OrderId};
use rentops_ledger::{Action, ChargeKind, ChargeLine, LedgerCommand, LedgerError};
use rentops_projection::Db;
use rentops_reactor::Scan;
use rentops_runtime::Clock;
use time::OffsetDateTime;

use crate::domain::custody::who_had;
use crate::domain::ledger::LedgerRefused;
use crate::domain::{LedgerAggregate, Step, Violation, ViolationAggregate, ViolationCommand, charge_booking_id};
use crate::projections::queries::{self, QueryError};

/// The most items one pass handles; a full pass asks for another at once.
const BATCH: usize = 500;

fn system_meta(request_id: String, correlation_id: String, actor: &str, now: OffsetDateTime) -> CommandMeta {
    CommandMeta {
        causation_id: request_id.clone(),
        request_id,
        // Derived from what caused it: nobody reuses it by mistake.
        fingerprint: None,
        correlation_id,
        actor: actor.to_owned(),
        time: now,
    }
}

/// Matches violation `id` (plate `plate_key`, offence at `offence_at`) again against who had the
/// car, as of `now`. `cause` names what prompted it (the import's request, a custody event), so
/// the command's request id is fixed per violation and cause. `None` when the custody read model
/// could not be read (the rematch scan tries again).
pub async fn rematch(
    handler: &CommandHandler<ViolationAggregate>,
    db: &Db,
    id: &str,
    plate_key: &str,
    offence_at: OffsetDateTime,
    cause: &str,
    now: OffsetDateTime,
) -> Result<Option<rentops_eventstore::Executed<Violation>>, ExecuteError<crate::domain::ViolationError>> {
    let facts = match queries::facts(db, plate_key, offence_at).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(violation_id = id, error = %e, "custody read model unavailable; the match waits");
            return Ok(None);
        }
    };
    let outcome = who_had(plate_key, offence_at, &facts, now);
    let meta = system_meta(
        format!("match:{id}:{cause}"),
        format!("violation:{id}"),
        "system:matching",
        now,
    );
    let done = handler
        .execute(id, &meta, &ViolationCommand::AutoMatch { outcome }, false)
        .await?;
    Ok(Some(done))
}

/// The dunning ladder's scan.
pub struct Ladder {
    pub violations: Arc<CommandHandler<ViolationAggregate>>,
    pub ledgers: Arc<CommandHandler<LedgerAggregate>>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub ladder: crate::domain::Ladder,
    pub calendar: Arc<Calendar>,
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Query(#[from] QueryError),
}

impl Scan for Ladder {
    type Error = StepError;

    fn name(&self) -> &str {
        "receivables-ladder"
    }

    async fn pass(&self) -> Result<Option<Duration>, StepError> {
        let (found, _) = self.scan_once().await?;
        Ok((found == BATCH).then_some(Duration::ZERO))
    }
}

impl Ladder {
    /// One pass: how many due steps it found, and how many it took.
    pub async fn scan_once(&self) -> Result<(usize, usize), StepError> {
        let now = self.clock.now();
        publish_backlog(&ladder_backlog(&self.db, now).await?, now);
        let due = queries::due_steps(&self.db, now, BATCH).await?;
        let found = due.len();
        let mut taken = 0;
        for (id, step) in due {
            match self.take(&id, step, now).await {
                Ok(n) => taken += n,
                Err(e) => {
                    tracing::warn!(violation_id = %id, step = step.code(), error = %e, "ladder step failed; next pass retries")
                }
            }
        }
        Ok((found, taken))
    }

    /// Takes violation `id`'s due step `step` (as the read model saw it) and every later step
    /// due by `now`, in order: a ladder that stood still (a scan down for days, a backlog of
    /// feeds entered after the fact) catches up in one pass. Returns how many it took.
    async fn take(&self, id: &str, step: Step, now: OffsetDateTime) -> Result<usize, String> {
        let (mut state, _) = self.violations.state(id).await.map_err(|e| e.to_string())?;
        let mut taken = 0;
        for _ in Step::ALL {
            let Some((next, due)) = state.next_step(&self.ladder) else {
                break;
            };
            if due > now || (taken == 0 && next != step) {
                // Nothing more due; or the read model lagged behind the log: the row will be
                // rewritten.
                break;
            }
            let Some(done) = self.take_one(id, &state, next, now).await? else {
                break;
            };
            taken += 1;
            metrics::counter!("rentops_receivables_ladder_steps_total", "step" => next.code()).increment(1);
            state = done;
        }
        Ok(taken)
    }

    /// Takes `step` of violation `id` in `state`; the state after it, or `None` when another
    /// replica (or an earlier pass) took it already.
    async fn take_one(
        &self,
        id: &str,
        state: &Violation,
        step: Step,
        now: OffsetDateTime,
    ) -> Result<Option<Violation>, String> {
        let mut charge = None;
        let mut appeal_until = None;
        if step == Step::Charge {
            charge = Some(self.charge(id, state, now).await?);
            let day = appeal_day(&self.calendar, now.date(), self.ladder.appeal_working_days);
            appeal_until = Some(day.with_time(now.time()).assume_offset(now.offset()));
        }
        let meta = system_meta(
            format!(
                "ladder:{id}:{}:{}",
                step.code(),
                state.notice_at().map_or(0, |t| t.unix_timestamp())
            ),
            format!("violation:{id}"),
            "system:ladder",
            now,
        );
        let done = self
            .violations
            .execute(
                id,
                &meta,
                &ViolationCommand::TakeStep {
                    step,
                    now,
                    ladder: self.ladder.clone(),
                    charge,
                    appeal_until,
                },
                false,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok((done.events_appended > 0 && !done.replayed).then_some(done.state))
    }

    /// Books the fine and the service fee on the renter's ledger (once: the booking id is the
    /// violation's), and returns the booking and the amount.
    async fn charge(&self, id: &str, v: &Violation, now: OffsetDateTime) -> Result<(String, Fen), String> {
        let record = v.record.as_ref().ok_or("no record")?;
        let matched = v.matched.as_ref().ok_or("not matched")?;
        let customer = CustomerId::parse(&matched.customer_id).map_err(|e| format!("customer_id: {e}"))?;
        let city = CityCode::parse(&matched.city).map_err(|e| format!("city: {e}"))?;
        let order = OrderId::parse(&matched.order_id).ok();
        let mut lines = vec![ChargeLine {
            kind: ChargeKind::Fine,
            amount: record.fine,
        }];
        if self.ladder.service_fee > Fen::ZERO {
            lines.push(ChargeLine {
                kind: ChargeKind::ServiceFee,
                amount: self.ladder.service_fee,
            });
        }
        let total = Fen::try_sum(lines.iter().map(|l| l.amount)).map_err(|e| e.to_string())?;
        let booking = charge_booking_id(id);
        let command = LedgerCommand {
            customer: customer.clone(),
            booking,
            at: now,
            roles: Vec::new(),
            memo: format!("违章 {} {} {}", record.plate, record.offence_code, record.offence_text),
            action: Action::Charge {
                lines,
                due: now.date(),
                about: id.to_owned(),
                order,
                city,
            },
        };
        let meta = system_meta(
            format!("violation-charge:{id}"),
            format!("violation:{id}"),
            "system:ladder",
            now,
        );
        match self.ledgers.execute(customer.as_str(), &meta, &command, true).await {
            Ok(_) => {}
            // Booked by an earlier try whose step did not land: go on with it.
            Err(ExecuteError::Domain(LedgerRefused(LedgerError::DuplicateBookingId { .. }))) => {}
            Err(e) => return Err(e.to_string()),
        }
        Ok((booking.to_string(), total))
    }
}

/// The steps due, per city and step, as one pass of the ladder finds them: how many, and since
/// when the longest-waiting one has been due.
pub type Backlog = std::collections::BTreeMap<(String, String), (u64, OffsetDateTime)>;

/// The ladder's backlog as of `now`: every due step, not only the first batch a pass takes.
pub async fn ladder_backlog(db: &Db, now: OffsetDateTime) -> Result<Backlog, QueryError> {
    use sqlx::Row as _;
    let rows = sqlx::query(
        "SELECT city, next_step, COUNT(*), MIN(next_due_us) FROM rx_violations \
         WHERE next_due_us IS NOT NULL AND next_due_us <= $1 GROUP BY city, next_step",
    )
    .bind(rentops_projection::db::micros(now))
    .fetch_all(&db.pool)
    .await?;
    let mut backlog = Backlog::new();
    for r in &rows {
        let city: String = r.try_get(0)?;
        let step: Option<String> = r.try_get(1)?;
        let count: i64 = r.try_get(2)?;
        let oldest: i64 = r.try_get(3)?;
        let city = if city.is_empty() { "none".to_owned() } else { city };
        backlog.insert(
            (city, step.unwrap_or_default()),
            (count.max(0) as u64, rentops_projection::db::from_micros(oldest)),
        );
    }
    Ok(backlog)
}

/// The (city, step) pairs published so far in this process: one that has nothing due any more
/// is set back to 0 rather than left showing its last count.
static PUBLISHED: std::sync::Mutex<std::collections::BTreeSet<(String, String)>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Sets the backlog gauges: `rentops_receivables_ladder_steps_due{city,step}` (steps due when
/// the pass began) and `rentops_receivables_ladder_oldest_due_seconds{city,step}` (how long the
/// longest-waiting of them has been due; a healthy ladder keeps it under one scan interval).
pub fn publish_backlog(backlog: &Backlog, now: OffsetDateTime) {
    metrics::describe_gauge!(
        "rentops_receivables_ladder_steps_due",
        "Dunning ladder steps due when the last ladder pass began, per city and step"
    );
    metrics::describe_gauge!(
        "rentops_receivables_ladder_oldest_due_seconds",
        metrics::Unit::Seconds,
        "How long the longest-waiting due ladder step had been due when the last pass began"
    );
    let mut published = PUBLISHED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for key in published.iter() {
        if !backlog.contains_key(key) {
            let (city, step) = key.clone();
            metrics::gauge!("rentops_receivables_ladder_steps_due", "city" => city.clone(), "step" => step.clone())
                .set(0.0);
            metrics::gauge!("rentops_receivables_ladder_oldest_due_seconds", "city" => city, "step" => step).set(0.0);
        }
    }
    for (key, (count, oldest)) in backlog {
        let (city, step) = key.clone();
        metrics::gauge!("rentops_receivables_ladder_steps_due", "city" => city.clone(), "step" => step.clone())
            .set(*count as f64);
        let waited = (now - *oldest).as_seconds_f64().max(0.0);
        metrics::gauge!("rentops_receivables_ladder_oldest_due_seconds", "city" => city, "step" => step).set(waited);
        published.insert(key.clone());
    }
}

/// The `n`-th working day after `from` by the calendar; for a year the calendar has no notice
/// of yet, Monday to Friday (said in the log, so an operator adds the notice).
pub fn appeal_day(calendar: &Calendar, from: time::Date, n: u32) -> time::Date {
    match calendar.add_working_days(from, n) {
        Ok(day) => day,
        Err(e) => {
            tracing::warn!(error = %e, "working-day calendar does not cover the appeal period; counting Monday to Friday");
            let mut day = from;
            let mut left = n;
            while left > 0 {
                let Some(next) = day.next_day() else { break };
                day = next;
                if !matches!(day.weekday(), time::Weekday::Saturday | time::Weekday::Sunday) {
                    left -= 1;
                }
            }
            day
        }
    }
}

/// The rematch scan.
pub struct Rematch {
    pub violations: Arc<CommandHandler<ViolationAggregate>>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
}

impl Scan for Rematch {
    type Error = QueryError;

    fn name(&self) -> &str {
        "receivables-rematch"
    }

    async fn pass(&self) -> Result<Option<Duration>, QueryError> {
        let found = self.scan_once().await?;
        Ok((found == BATCH).then_some(Duration::ZERO))
    }
}

impl Rematch {
    /// One pass over the changes in who had which car; returns how many it handled.
    pub async fn scan_once(&self) -> Result<usize, QueryError> {
        let changes = queries::rechecks(&self.db, BATCH).await?;
        let now = self.clock.now();
        for r in &changes {
            let cause = format!("{}:{}:{}", r.stream, r.sequence, r.part);
            let mut failed = false;
            for (id, plate_key, offence_at) in queries::affected(&self.db, r).await? {
                if let Err(e) = rematch(&self.violations, &self.db, &id, &plate_key, offence_at, &cause, now).await {
                    tracing::warn!(violation_id = %id, error = %e, "rematch failed; next pass retries");
                    failed = true;
                }
            }
            if !failed {
                queries::done_recheck(&self.db, r).await?;
            }
        }
        Ok(changes.len())
    }
}

/// The violation deposits: a hold is booked when the car goes out, and settled once the hire
/// has been back for `release_after` and none of its violations is still on its ladder before
/// the charge: what is open of the hire's charges is deducted and the rest released in the same
/// decision, or all of it released. Booking ids derive from the order, so a retry finds its
/// booking made.
pub struct Deposits {
    pub ledgers: Arc<CommandHandler<LedgerAggregate>>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub release_after: time::Duration,
}

fn order_booking(what: &str, order: &str) -> rentops_ledger::BookingId {
    rentops_ledger::BookingId(uuid::Uuid::new_v5(
        &crate::domain::BOOKING_NAMESPACE,
        format!("{what}:{order}").as_bytes(),
    ))
}

impl Scan for Deposits {
    type Error = QueryError;

    fn name(&self) -> &str {
        "receivables-deposits"
    }

    async fn pass(&self) -> Result<Option<Duration>, QueryError> {
        let (found, _) = self.scan_once().await?;
        Ok((found == BATCH).then_some(Duration::ZERO))
    }
}

impl Deposits {
    /// One pass: how many holds it looked at, and how many bookings it made.
    pub async fn scan_once(&self) -> Result<(usize, usize), QueryError> {
        let now = self.clock.now();
        let horizon = now - self.release_after;
        let mut found = 0;
        let mut booked = 0;
        for (order, customer, amount) in queries::holds_to_take(&self.db, horizon, BATCH).await? {
            found += 1;
            match self.hold(&order, &customer, Fen(amount), now).await {
                Ok(()) => booked += 1,
                Err(e) => tracing::warn!(order_id = %order, error = %e, "deposit hold failed; next pass retries"),
            }
        }
        for (order, customer, hold) in queries::holds_to_settle(&self.db, horizon, BATCH).await? {
            found += 1;
            match self.settle(&order, &customer, &hold, now).await {
                Ok(()) => booked += 1,
                Err(e) => tracing::warn!(order_id = %order, error = %e, "deposit settlement failed; next pass retries"),
            }
        }
        Ok((found, booked))
    }

    async fn execute(
        &self,
        customer: &CustomerId,
        request: String,
        command: LedgerCommand,
        create: bool,
    ) -> Result<(), String> {
        let meta = system_meta(request, format!("deposit:{customer}"), "system:deposits", command.at);
        match self.ledgers.execute(customer.as_str(), &meta, &command, create).await {
            Ok(_) | Err(ExecuteError::Domain(LedgerRefused(LedgerError::DuplicateBookingId { .. }))) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn hold(&self, order: &str, customer: &str, amount: Fen, now: OffsetDateTime) -> Result<(), String> {
        let customer = CustomerId::parse(customer).map_err(|e| format!("customer_id: {e}"))?;
        let order_id = OrderId::parse(order).map_err(|e| format!("order_id: {e}"))?;
        let command = LedgerCommand {
            customer: customer.clone(),
            booking: order_booking("deposit-hold", order),
            at: now,
            roles: Vec::new(),
            memo: format!("违章押金 order {order}"),
            action: Action::HoldDeposit {
                amount,
                order: order_id,
            },
        };
        self.execute(&customer, format!("deposit-hold:{order}"), command, true)
            .await
    }

    async fn settle(&self, order: &str, customer: &str, hold: &str, now: OffsetDateTime) -> Result<(), String> {
        let customer = CustomerId::parse(customer).map_err(|e| format!("customer_id: {e}"))?;
        let hold = rentops_ledger::BookingId(uuid::Uuid::parse_str(hold).map_err(|e| format!("hold: {e}"))?);
        let (ledger, _) = self.ledgers.state(customer.as_str()).await.map_err(|e| e.to_string())?;
        let Some(h) = ledger.hold(&hold) else {
            return Err(format!("no hold {hold} on the ledger"));
        };
        if h.is_resolved() {
            return Ok(());
        }
        let mut left = h.remaining;
        let mut against = Vec::new();
        for item in ledger.open_items() {
            if item.order.as_ref().map(|o| o.to_string()).as_deref() != Some(order) || left == Fen::ZERO {
                continue;
            }
            let amount = item.open.min(left);
            if amount > Fen::ZERO {
                left = left.checked_sub(amount).ok_or("deposit arithmetic")?;
                against.push(rentops_ledger::Apply {
                    charge: item.booking,
                    amount,
                });
            }
        }
        let (booking, action, memo) = if against.is_empty() {
            (
                order_booking("deposit-release", order),
                Action::ReleaseDeposit { hold },
                format!("违章押金退还 order {order}"),
            )
        } else {
            (
                order_booking("deposit-deduction", order),
                Action::DeductDeposit {
                    hold,
                    against,
                    release: order_booking("deposit-release", order),
                },
                format!("违章押金抵扣 order {order}"),
            )
        };
        let command = LedgerCommand {
            customer: customer.clone(),
            booking,
            at: now,
            roles: Vec::new(),
            memo,
            action,
        };
        self.execute(&customer, format!("deposit-settle:{order}"), command, false)
            .await
    }
}

/// Repair claims opened from returns with damage noted: one claim per hire, its id derived
/// from the order, so however many replicas scan, it is opened once.
pub struct DamageClaims {
    pub claims: Arc<CommandHandler<crate::domain::ClaimAggregate>>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
}

/// The claim opened from `order`'s return.
pub fn return_claim_id(order: &str) -> String {
    uuid::Uuid::new_v5(
        &crate::domain::BOOKING_NAMESPACE,
        format!("claim-from-return:{order}").as_bytes(),
    )
    .to_string()
}

impl Scan for DamageClaims {
    type Error = QueryError;

    fn name(&self) -> &str {
        "receivables-damage-claims"
    }

    async fn pass(&self) -> Result<Option<Duration>, QueryError> {
        let reports = queries::damage_reports(&self.db, BATCH).await?;
        let now = self.clock.now();
        for (order, damage, returned_at) in &reports {
            let Some((customer, city, cover, vehicle)) = queries::claim_hire(&self.db, order).await? else {
                continue;
            };
            let opened = crate::domain::claim::Opened {
                order_id: order.clone(),
                customer_id: customer,
                city,
                vehicle_id: vehicle,
                cover: rentops_kernel::CoverTier::parse(&cover).unwrap_or_default(),
                cause: crate::domain::claim::Cause::Ordinary,
                damage_noted: damage.clone(),
                opened_at: *returned_at,
                from_return: true,
                lines: Vec::new(),
                repair_days: 0,
            };
            let id = return_claim_id(order);
            let meta = system_meta(
                format!("claim-from-return:{order}"),
                format!("claim:{id}"),
                "system:claims",
                now,
            );
            match self
                .claims
                .execute(&id, &meta, &crate::domain::claim::ClaimCommand::Open(opened), true)
                .await
            {
                Ok(_) => queries::damage_done(&self.db, order).await?,
                Err(e) => {
                    tracing::warn!(order_id = %order, error = %e, "cannot open the repair claim; next pass retries")
                }
            }
        }
        Ok((reports.len() == BATCH).then_some(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use rentops_testkit::metrics::{rendered, value};

    fn t(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    async fn violation(db: &Db, id: &str, city: &str, step: Option<&str>, due: Option<OffsetDateTime>) {
        sqlx::query(
            "INSERT INTO rx_violations (violation_id, plate_key, plate, offence_us, status, city, customer_id, \
             order_id, next_step, next_due_us, rematchable, state, last_sequence, updated_at_us) \
             VALUES ($1, 'P', 'P', 0, 'RENTER', $2, 'C1', 'O1', $3, $4, 0, '{}', 1, 0)",
        )
        .bind(id.to_owned())
        .bind(city.to_owned())
        .bind(step.map(str::to_owned))
        .bind(due.map(rentops_projection::db::micros))
        .execute(&db.pool)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn the_backlog_counts_every_due_step_per_city_and_step_and_goes_back_to_zero() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("rx.db").display()))
            .await
            .unwrap();
        let migrations = sqlx::migrate!("./migrations/sqlite");
        db.migrate(&migrations, &migrations).await.unwrap();
        let now = t("2026-12-01T10:00:00Z");
        violation(&db, "v1", "SHA", Some("NOTICE"), Some(t("2026-12-01T09:00:00Z"))).await;
        violation(&db, "v2", "SHA", Some("NOTICE"), Some(t("2026-12-01T09:59:00Z"))).await;
        violation(&db, "v3", "SHA", Some("CHARGE"), Some(t("2026-12-01T09:30:00Z"))).await;
        violation(&db, "v4", "BJS", Some("NOTICE"), Some(t("2026-12-01T09:50:00Z"))).await;
        // Not due yet, and no ladder at all: not in the backlog.
        violation(&db, "v5", "BJS", Some("REMINDER"), Some(t("2026-12-01T10:00:01Z"))).await;
        violation(&db, "v6", "BJS", None, None).await;

        let backlog = ladder_backlog(&db, now).await.unwrap();
        let key = |c: &str, s: &str| (c.to_owned(), s.to_owned());
        assert_eq!(
            backlog,
            Backlog::from([
                (key("BJS", "NOTICE"), (1, t("2026-12-01T09:50:00Z"))),
                (key("SHA", "CHARGE"), (1, t("2026-12-01T09:30:00Z"))),
                (key("SHA", "NOTICE"), (2, t("2026-12-01T09:00:00Z"))),
            ])
        );

        let text = rendered(|| publish_backlog(&backlog, now));
        let due = r#"rentops_receivables_ladder_steps_due{city="SHA",step="NOTICE"}"#;
        let oldest = r#"rentops_receivables_ladder_oldest_due_seconds{city="SHA",step="NOTICE"}"#;
        assert_eq!(value(&text, due), Some(2.0), "{text}");
        assert_eq!(value(&text, oldest), Some(3600.0), "{text}");
        assert_eq!(
            value(
                &text,
                r#"rentops_receivables_ladder_steps_due{city="BJS",step="NOTICE"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert!(!text.contains("REMINDER"), "nothing due yet is not counted: {text}");

        // The steps were taken: the next pass finds nothing due, and the gauges say 0.
        let text = rendered(|| publish_backlog(&Backlog::new(), now));
        assert_eq!(value(&text, due), Some(0.0), "{text}");
        assert_eq!(value(&text, oldest), Some(0.0), "{text}");
    }
}
