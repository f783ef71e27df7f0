//! The receivables gRPC API: parse → command → reply, and queries over the read models. Every
//! invalid field is answered INVALID_ARGUMENT naming it; nothing is appended then. An import's
//! records are checked one by one: a bad record is rejected with its line and field, the rest
//! are recorded.

use std::sync::Arc;

use futures::StreamExt as _;
use rentops_eventstore::{CommandHandler, Executed};
use rentops_kernel::{CustomerId, Fen};
use rentops_kit::api::{self, DomainStatus};
use rentops_ledger::{Action, BookingId, Ledger, LedgerCommand, LedgerError, Role as LedgerRole};
use rentops_projection::{Checkpoints, Db};
use rentops_proto::common;
use rentops_proto::receivables as pb;
use rentops_proto::timestamp::to_timestamp;
use rentops_runtime::auth::{Caller, Declaration, Role};
use rentops_runtime::validate::{Context, Violations, context, page_size};
use rentops_runtime::{Clock, invalid_argument};
use time::OffsetDateTime;
use tonic::{Request, Response, Status, Streaming};

use crate::domain::codec::{responsibility_pb, step_pb, unmatched_reason_pb, violation_event_pb};
use crate::domain::custody::who_had;
use crate::domain::ledger::{LedgerRefused, date_text, kind_pb, parse_date};
use crate::domain::violation::Record;
use crate::domain::{
    Ladder, LedgerAggregate, Match, Resolution, Responsibility, Status as VStatus, Violation, ViolationAggregate,
    ViolationCommand, ViolationError, request_booking_id,
};
use crate::projections::queries::{self, QueryError, ViolationFilter};
use crate::reactors::rematch;

const DESK: &[Role] = &[Role::Desk, Role::Supervisor];
const IMPORT: &[Role] = &[Role::Desk, Role::Supervisor, Role::Finance];
const FINANCE: &[Role] = &[Role::Finance];
const SUPERVISOR: &[Role] = &[Role::Supervisor];
const REVERSE: &[Role] = &[Role::Supervisor, Role::Finance];
const READ: &[Role] = &[Role::Desk, Role::Supervisor, Role::Finance, Role::Analyst];
/// Damage is recorded by the desk and by the fleet's staff who inspect the returned car.
const CLAIM: &[Role] = &[Role::Desk, Role::Supervisor, Role::Fleet, Role::Finance];

/// Who may call each RPC of `rentops.receivables.v1.ReceivablesService`.
pub const POLICY: Declaration = (
    "rentops.receivables.v1.ReceivablesService",
    &[
        ("ImportViolations", IMPORT),
        ("ResolveException", DESK),
        ("RecordPayment", FINANCE),
        ("WaiveCharge", SUPERVISOR),
        ("WriteOffCharge", SUPERVISOR),
        ("RefundCredit", FINANCE),
        ("ReverseBooking", REVERSE),
        ("OpenClaim", CLAIM),
        ("AddClaimLines", CLAIM),
        ("SetClaimDetails", CLAIM),
        ("ConfirmClaim", FINANCE),
        ("AdjustClaim", FINANCE),
        ("GetClaim", READ),
        ("ListClaims", READ),
        ("GetViolation", READ),
        ("ListViolations", READ),
        ("ListExceptions", READ),
        ("GetStatement", READ),
        ("GetAging", READ),
        ("ListOverdue", READ),
        ("GetCollectionKpis", READ),
    ],
);

/// The most records one import message may carry.
pub const MAX_BATCH: usize = 1000;

/// How many records of an import message are decided and appended at once.
pub const IMPORT_IN_FLIGHT: usize = 32;

pub struct ReceivablesApi {
    pub violations: Arc<CommandHandler<ViolationAggregate>>,
    pub ledgers: Arc<CommandHandler<LedgerAggregate>>,
    pub db: Db,
    /// The receivables projection's checkpoints (violations and ledgers).
    pub checkpoints: Checkpoints,
    pub clock: Arc<dyn Clock>,
    pub ladder: Ladder,
    pub claims: ClaimsApi,
}

impl DomainStatus for ViolationError {
    fn status(self) -> Status {
        match self {
            ViolationError::NotFound => Status::not_found("violation not found"),
            e @ ViolationError::Collision(_) => Status::already_exists(e.to_string()),
            e @ (ViolationError::NotAnException { .. }
            | ViolationError::NotNext { .. }
            | ViolationError::NotDue { .. }
            | ViolationError::ChargeWithoutBooking) => Status::failed_precondition(e.to_string()),
            ViolationError::Invalid { field, message } => invalid_argument(field, message),
        }
    }
}

impl DomainStatus for LedgerRefused {
    fn status(self) -> Status {
        let e = self.0;
        let text = e.to_string();
        match e {
            LedgerError::NotPositive { field, .. } => invalid_argument(&field, text),
            LedgerError::Missing { field } | LedgerError::TooLong { field, .. } => invalid_argument(field, text),
            LedgerError::WrongCustomer { .. } => invalid_argument("customer_id", text),
            LedgerError::WrongKind { field, .. } | LedgerError::NamedTwice { field, .. } => {
                invalid_argument(field, text)
            }
            LedgerError::UnknownBooking { .. } => Status::not_found(text),
            LedgerError::DuplicateBookingId { .. } | LedgerError::ReferenceReused { .. } => {
                Status::already_exists(text)
            }
            LedgerError::RoleRequired { .. } => Status::permission_denied(text),
            LedgerError::Overflow { .. } => Status::out_of_range(text),
            LedgerError::Backdated { .. }
            | LedgerError::ExceedsOpen { .. }
            | LedgerError::ExceedsCredit { .. }
            | LedgerError::HoldResolved { .. }
            | LedgerError::ExceedsHold { .. }
            | LedgerError::OpenChargesOnHire { .. }
            | LedgerError::NotReversible { .. }
            | LedgerError::AlreadyReversed { .. }
            | LedgerError::AllowanceStands { .. }
            | LedgerError::Unwritable { .. } => Status::failed_precondition(text),
            LedgerError::Inconsistent { .. } | LedgerError::Broken { .. } => {
                tracing::error!(error = %text, "ledger refuses bookings");
                Status::internal(text)
            }
        }
    }
}

fn query_status(e: QueryError) -> Status {
    e.into()
}

/// The ledger roles of the caller: its token's, or, with authentication off (a trusted local
/// cluster), both.
fn ledger_roles(caller: Option<&Caller>) -> Vec<LedgerRole> {
    match caller {
        None => vec![LedgerRole::Supervisor, LedgerRole::Finance],
        Some(c) => {
            let mut roles = Vec::new();
            if c.roles.contains(&Role::Supervisor) {
                roles.push(LedgerRole::Supervisor);
            }
            if c.roles.contains(&Role::Finance) {
                roles.push(LedgerRole::Finance);
            }
            roles
        }
    }
}

fn customer(v: &mut Violations, field: &str, text: &str) -> Option<CustomerId> {
    match CustomerId::parse(text.trim()) {
        Ok(c) => Some(c),
        Err(e) => {
            v.add(field, e.to_string());
            None
        }
    }
}

fn booking(v: &mut Violations, field: &str, text: &str, required: bool) -> Option<BookingId> {
    if text.trim().is_empty() {
        if required {
            v.add(field, "required");
        }
        return None;
    }
    match uuid::Uuid::parse_str(text.trim()) {
        Ok(u) => Some(BookingId(u)),
        Err(_) => {
            v.add(field, "not a booking id (a UUID)");
            None
        }
    }
}

fn positive(v: &mut Violations, field: &str, m: Option<&common::Money>) -> Fen {
    let amount = v.money(field, m, true).unwrap_or(Fen::ZERO);
    if m.is_some() && amount == Fen::ZERO {
        v.add(format!("{field}.amount_fen"), "must be more than zero");
    }
    amount
}

fn as_of(v: &mut Violations, text: &str, now: OffsetDateTime) -> time::Date {
    if text.trim().is_empty() {
        return now.date();
    }
    parse_date(text).unwrap_or_else(|| {
        v.add("as_of", "a date, YYYY-MM-DD");
        now.date()
    })
}

fn booking_result(customer: &str, booking: BookingId, e: &Executed<Ledger>) -> pb::BookingResult {
    pb::BookingResult {
        customer_id: customer.to_owned(),
        booking_id: booking.to_string(),
        sequence: e.sequence,
        events_appended: e.events_appended,
    }
}

pub fn violation_pb(v: &Violation, ladder: &Ladder) -> pb::Violation {
    let next = v.next_step(ladder);
    pb::Violation {
        violation_id: v.id.clone(),
        record: v.record.as_ref().map(|r| crate::domain::codec::recorded_pb(&v.id, r)),
        status: status_pb(v.status()) as i32,
        r#match: v.matched.as_ref().map(|m| pb::ViolationMatched {
            violation_id: v.id.clone(),
            responsibility: responsibility_pb(m.responsibility) as i32,
            order_id: m.order_id.clone(),
            customer_id: m.customer_id.clone(),
            customer_phone: m.customer_phone.clone(),
            city: m.city.clone(),
            vehicle_id: m.vehicle_id.clone(),
            person_id: m.person_id.clone(),
            matched_at: Some(to_timestamp(m.matched_at)),
            resolved_by: m.resolved_by.clone(),
            reason: m.reason.clone(),
        }),
        unmatched_reason: v
            .unmatched
            .as_ref()
            .filter(|_| v.matched.is_none())
            .map(|u| unmatched_reason_pb(u.reason) as i32)
            .unwrap_or_default(),
        unmatched_detail: v.unmatched.as_ref().map(|u| u.detail.clone()).unwrap_or_default(),
        last_step: v.steps.last().map(|s| step_pb(s.step) as i32).unwrap_or_default(),
        next_step: next.map(|(s, _)| step_pb(s) as i32).unwrap_or_default(),
        next_step_due_at: next.map(|(_, due)| to_timestamp(due)),
        deadline: v.deadline().map(to_timestamp),
        charge_booking_id: v.charge_booking_id().unwrap_or_default().to_owned(),
        timeline: Vec::new(),
        disputes: v.disputes.iter().cloned().collect(),
    }
}

fn status_pb(s: VStatus) -> pb::ViolationStatus {
    match s {
        VStatus::Exception => pb::ViolationStatus::Exception,
        VStatus::Open => pb::ViolationStatus::Open,
        VStatus::Charged => pb::ViolationStatus::Charged,
        VStatus::Collections => pb::ViolationStatus::Collections,
        VStatus::Handled => pb::ViolationStatus::Handled,
        VStatus::Voided => pb::ViolationStatus::Voided,
        VStatus::Company => pb::ViolationStatus::Company,
        VStatus::Waived => pb::ViolationStatus::Waived,
    }
}

fn status_from_pb(v: i32) -> Option<VStatus> {
    Some(match pb::ViolationStatus::try_from(v).ok()? {
        pb::ViolationStatus::Exception => VStatus::Exception,
        pb::ViolationStatus::Open => VStatus::Open,
        pb::ViolationStatus::Charged => VStatus::Charged,
        pb::ViolationStatus::Collections => VStatus::Collections,
        pb::ViolationStatus::Handled => VStatus::Handled,
        pb::ViolationStatus::Voided => VStatus::Voided,
        pb::ViolationStatus::Company => VStatus::Company,
        pb::ViolationStatus::Waived => VStatus::Waived,
        pb::ViolationStatus::Unspecified => return None,
    })
}

fn buckets_pb(b: &rentops_ledger::AgingBuckets) -> Result<pb::AgingBuckets, Status> {
    Ok(pb::AgingBuckets {
        current_fen: b.current.0,
        days_1_30_fen: b.days_1_30.0,
        days_31_60_fen: b.days_31_60.0,
        days_61_90_fen: b.days_61_90.0,
        over_90_fen: b.over_90.0,
        total_fen: b.total().map_err(|e| Status::out_of_range(e.to_string()))?.0,
    })
}

/// A record's fields, checked; `i` names it in the fields (`records[i].…`).
/// Parses record `i` of a batch received at `received` (now, or earlier for a backlog).
fn parse_record(
    r: &pb::ViolationRecord,
    i: usize,
    now: OffsetDateTime,
    received: OffsetDateTime,
) -> Result<Record, Vec<(String, String)>> {
    let mut v = Violations::default();
    let f = |name: &str| format!("records[{i}].{name}");
    let plate = v.plate(&f("plate"), &r.plate);
    let offence_at = v.required_time(&f("offence_at"), r.offence_at.as_ref());
    if r.offence_at.is_some() && offence_at > now + time::Duration::days(1) {
        v.add(f("offence_at"), "in the future");
    } else if r.offence_at.is_some() && offence_at > received + time::Duration::days(1) {
        v.add(f("offence_at"), "after the batch's received_at");
    }
    let place = v.text(&f("place"), &r.place, 200, true);
    let offence_code = v.text(&f("offence_code"), &r.offence_code, 32, true);
    let offence_text = v.text(&f("offence_text"), &r.offence_text, 200, false);
    let fine = v.money(&f("fine"), r.fine.as_ref(), true);
    if r.points > 12 {
        v.add(f("points"), "at most 12");
    }
    let authority_ref = v.text(&f("authority_ref"), &r.authority_ref, 64, false);
    let source = v.text(&f("source"), &r.source, 64, false);
    let plate_kind = v.text(&f("plate_type"), &r.plate_type, 16, false);
    if !v.is_empty() {
        return Err(v.into_fields());
    }
    match (plate, fine) {
        (Some(plate), Some(fine)) => Ok(Record {
            plate,
            plate_kind,
            offence_at,
            place,
            offence_code,
            offence_text,
            fine,
            points: r.points,
            authority_ref,
            source,
            received_at: received,
            handled: r.handled,
        }),
        _ => Err(vec![(f("plate"), "required".into())]),
    }
}

impl ReceivablesApi {
    /// Books `action` on `customer`'s ledger as the request asks; the booking's id is derived
    /// from the request id, so a retry names the same booking.
    async fn book(
        &self,
        ctx: Context,
        caller: Option<&Caller>,
        customer: &CustomerId,
        memo: String,
        action: Action,
        create: bool,
    ) -> Result<pb::BookingResult, Status> {
        let now = self.clock.now();
        let booking = request_booking_id(customer.as_str(), &ctx.request_id);
        let command = LedgerCommand {
            customer: customer.clone(),
            booking,
            at: now,
            roles: ledger_roles(caller),
            memo,
            action,
        };
        let done = api::execute(&self.ledgers, customer.as_str(), ctx, now, &command, create).await?;
        // A reference applied before is a repeat: the answer names the booking it was applied as.
        let booking = match &command.action {
            Action::Pay { reference, .. } | Action::Refund { reference, .. } if done.events_appended == 0 => {
                done.state.reference(reference).map_or(booking, |seen| seen.booking)
            }
            _ => booking,
        };
        Ok(booking_result(customer.as_str(), booking, &done))
    }

    /// Imports one batch into `summary`. Who had each car is read for the whole batch at once;
    /// then each record is recorded and matched (two decisions, each one event: one plain
    /// publish each, where one decision of two events would be an atomic batch, which the
    /// server stages in a file of its own; see ADR 0021) under request ids fixed by the batch's
    /// and the record's place in it, so a retried batch records nothing twice. Records are
    /// decided [`IMPORT_IN_FLIGHT`] at a time (each is its own aggregate) and counted in their
    /// order.
    async fn import_batch(
        &self,
        request: pb::ImportViolationsRequest,
        caller: Option<&Caller>,
        summary: &mut pb::ImportSummary,
    ) -> Result<(), Status> {
        let mut v = Violations::default();
        let ctx = context(&mut v, &request, caller);
        if request.records.len() > MAX_BATCH {
            v.add("records", format!("at most {MAX_BATCH} per message"));
        }
        let now = self.clock.now();
        let received = v.happened("received_at", request.received_at.as_ref(), now);
        let ctx = v.finish(ctx)?;
        let mut records = Vec::new();
        for (i, r) in request.records.iter().enumerate() {
            summary.received += 1;
            match parse_record(r, i, now, received) {
                Ok(record) => records.push((i, record)),
                Err(fields) => {
                    for (field, reason) in fields {
                        summary.rejected.push(pb::Rejection {
                            line: r.line,
                            field,
                            reason,
                        });
                    }
                }
            }
        }
        let wanted: Vec<(String, OffsetDateTime)> =
            records.iter().map(|(_, r)| (r.plate.key(), r.offence_at)).collect();
        let facts = match queries::facts_many(&self.db, &wanted).await {
            Ok(f) => f.into_iter().map(Some).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "custody read model unavailable; the batch's matches wait");
                wanted.iter().map(|_| None).collect::<Vec<_>>()
            }
        };
        let ctx = &ctx;
        let imports = records.into_iter().zip(facts).map(|((i, record), facts)| async move {
            let id = record.violation_id();
            let meta = api::meta(
                Context {
                    request_id: format!("{}:{i}", ctx.request_id),
                    actor: ctx.actor.clone(),
                    correlation_id: ctx.correlation_id.clone(),
                    fingerprint: ctx.fingerprint.clone(),
                },
                now,
            );
            let handled = record.handled;
            let (plate_key, offence_at) = (record.plate.key(), record.offence_at);
            let done = self
                .violations
                .execute(
                    &id,
                    &meta,
                    &ViolationCommand::Record {
                        record: Box::new(record),
                    },
                    true,
                )
                .await
                .map_err(api::status)?;
            // A new record appends itself (and its handling, when it says so); a copy at most the
            // handling.
            let is_new = done.events_appended == if handled { 2 } else { 1 };
            let appended = done.events_appended;
            let mut sequence = done.sequence;
            let mut state = done.state;
            if state.is_rematchable() && (is_new || state.matched.is_none()) {
                let cause = format!("import:{}:{i}", ctx.request_id);
                let matched = match facts {
                    Some(facts) => {
                        // Matched as of the batch's receipt: the ladder counts from then.
                        let outcome = who_had(&plate_key, offence_at, &facts, received);
                        let meta = rentops_eventstore::CommandMeta {
                            request_id: format!("match:{id}:{cause}"),
                            fingerprint: None,
                            correlation_id: format!("violation:{id}"),
                            causation_id: format!("match:{id}:{cause}"),
                            actor: "system:matching".into(),
                            time: now,
                        };
                        self.violations
                            .execute(&id, &meta, &ViolationCommand::AutoMatch { outcome }, false)
                            .await
                            .map(Some)
                    }
                    // The batch's read failed: this record's own read, as a rematch does it.
                    None => {
                        rematch(
                            &self.violations,
                            &self.db,
                            &id,
                            &plate_key,
                            offence_at,
                            &cause,
                            received,
                        )
                        .await
                    }
                };
                match matched {
                    Ok(Some(done)) => {
                        sequence = sequence.max(done.sequence);
                        state = done.state;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(violation_id = %id, error = %e, "matching failed; the rematch scan retries")
                    }
                }
            }
            Ok::<_, Status>((is_new, handled, appended, sequence, state))
        });
        let mut results = futures::stream::iter(imports).buffered(IMPORT_IN_FLIGHT);
        while let Some(result) = results.next().await {
            let (is_new, handled, appended, sequence, state) = result?;
            summary.sequence = summary.sequence.max(sequence);
            if is_new {
                summary.new += 1;
            } else {
                summary.duplicates += 1;
            }
            if handled && state.handled_at.is_some() && appended > 0 {
                summary.handled += 1;
            }
            match state.status() {
                _ if !is_new => {}
                VStatus::Exception => summary.exceptions += 1,
                VStatus::Handled | VStatus::Voided => {}
                _ => summary.matched += 1,
            }
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl pb::receivables_service_server::ReceivablesService for ReceivablesApi {
    async fn import_violations(
        &self,
        request: Request<Streaming<pb::ImportViolationsRequest>>,
    ) -> Result<Response<pb::ImportSummary>, Status> {
        let caller = Caller::of(&request);
        let mut stream = request.into_inner();
        let mut summary = pb::ImportSummary::default();
        while let Some(batch) = stream.next().await {
            self.import_batch(batch?, caller.as_ref(), &mut summary).await?;
        }
        Ok(Response::new(summary))
    }

    async fn resolve_exception(
        &self,
        request: Request<pb::ResolveExceptionRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.text("violation_id", &r.violation_id, 64, true);
        let reason = v.text("reason", &r.reason, 500, true);
        let now = self.clock.now();
        let blank = |responsibility| Match {
            responsibility,
            order_id: String::new(),
            customer_id: String::new(),
            customer_phone: String::new(),
            city: String::new(),
            vehicle_id: String::new(),
            person_id: String::new(),
            matched_at: now,
            resolved_by: String::new(),
            reason: String::new(),
        };
        use pb::resolve_exception_request::Resolution as R;
        let resolution = match &r.resolution {
            None => {
                v.add("resolution", "required: company, staff_id, bad_data or order_id");
                None
            }
            Some(R::Company(true)) => Some(Resolution::Assign(Box::new(blank(Responsibility::Company)))),
            Some(R::BadData(true)) => Some(Resolution::BadData),
            Some(R::Company(false)) => {
                v.add("company", "must be true when given");
                None
            }
            Some(R::BadData(false)) => {
                v.add("bad_data", "must be true when given");
                None
            }
            Some(R::StaffId(s)) => {
                let staff = v.text("staff_id", s, 64, true);
                Some(Resolution::Assign(Box::new(Match {
                    person_id: staff,
                    ..blank(Responsibility::Staff)
                })))
            }
            Some(R::OrderId(o)) => {
                let order = v.text("order_id", o, 64, true);
                match queries::hire(&self.db, &order).await.map_err(query_status)? {
                    None if !order.is_empty() => {
                        v.add(
                            "order_id",
                            "no such hire (is the order service's stream read up to it?)",
                        );
                        None
                    }
                    None => None,
                    Some(h) => Some(Resolution::Assign(Box::new(Match {
                        order_id: order,
                        customer_id: h.customer_id,
                        customer_phone: h.customer_phone,
                        city: h.city,
                        vehicle_id: h.vehicle_id,
                        ..blank(Responsibility::Renter)
                    }))),
                }
            }
        };
        let (ctx, resolution) = v.finish((ctx, resolution))?;
        let Some(resolution) = resolution else {
            return Err(invalid_argument("resolution", "required"));
        };
        let by = ctx.actor.clone();
        let done = api::execute(
            &self.violations,
            &id,
            ctx,
            now,
            &ViolationCommand::Resolve {
                resolution,
                by,
                reason,
                at: now,
            },
            false,
        )
        .await?;
        Ok(Response::new(api::command_result(&done)))
    }

    async fn record_payment(
        &self,
        request: Request<pb::RecordPaymentRequest>,
    ) -> Result<Response<pb::BookingResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let customer = customer(&mut v, "customer_id", &r.customer_id);
        let amount = positive(&mut v, "amount", r.amount.as_ref());
        let reference = v.text("reference", &r.reference, 128, true);
        let pays = booking(&mut v, "charge_booking_id", &r.charge_booking_id, false);
        let memo = v.text("memo", &r.memo, 500, false);
        if let Some(paid_at) = v.time("paid_at", r.paid_at.as_ref())
            && paid_at > self.clock.now() + time::Duration::minutes(5)
        {
            v.add("paid_at", "in the future");
        }
        let (ctx, customer) = v.finish((ctx, customer))?;
        let Some(customer) = customer else {
            return Err(invalid_argument("customer_id", "required"));
        };
        let memo = if memo.is_empty() {
            format!("payment {reference}")
        } else {
            memo
        };
        let action = Action::Pay {
            amount,
            reference,
            pays,
        };
        Ok(Response::new(
            self.book(ctx, caller.as_ref(), &customer, memo, action, true).await?,
        ))
    }

    async fn waive_charge(
        &self,
        request: Request<pb::WaiveChargeRequest>,
    ) -> Result<Response<pb::BookingResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let customer = customer(&mut v, "customer_id", &r.customer_id);
        let charge = booking(&mut v, "charge_booking_id", &r.charge_booking_id, true);
        let amount = positive(&mut v, "amount", r.amount.as_ref());
        let reason = v.text("reason", &r.reason, 500, true);
        let (ctx, customer, charge) = v.finish((ctx, customer, charge))?;
        let (Some(customer), Some(charge)) = (customer, charge) else {
            return Err(invalid_argument("customer_id", "required"));
        };
        Ok(Response::new(
            self.book(
                ctx,
                caller.as_ref(),
                &customer,
                reason,
                Action::Waive { charge, amount },
                false,
            )
            .await?,
        ))
    }

    async fn write_off_charge(
        &self,
        request: Request<pb::WriteOffChargeRequest>,
    ) -> Result<Response<pb::BookingResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let customer = customer(&mut v, "customer_id", &r.customer_id);
        let charge = booking(&mut v, "charge_booking_id", &r.charge_booking_id, true);
        let amount = positive(&mut v, "amount", r.amount.as_ref());
        let reason = v.text("reason", &r.reason, 500, true);
        let (ctx, customer, charge) = v.finish((ctx, customer, charge))?;
        let (Some(customer), Some(charge)) = (customer, charge) else {
            return Err(invalid_argument("customer_id", "required"));
        };
        Ok(Response::new(
            self.book(
                ctx,
                caller.as_ref(),
                &customer,
                reason,
                Action::WriteOff { charge, amount },
                false,
            )
            .await?,
        ))
    }

    async fn refund_credit(
        &self,
        request: Request<pb::RefundCreditRequest>,
    ) -> Result<Response<pb::BookingResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let customer = customer(&mut v, "customer_id", &r.customer_id);
        let amount = positive(&mut v, "amount", r.amount.as_ref());
        let reference = v.text("reference", &r.reference, 128, true);
        let memo = v.text("memo", &r.memo, 500, false);
        let (ctx, customer) = v.finish((ctx, customer))?;
        let Some(customer) = customer else {
            return Err(invalid_argument("customer_id", "required"));
        };
        let memo = if memo.is_empty() {
            format!("refund {reference}")
        } else {
            memo
        };
        Ok(Response::new(
            self.book(
                ctx,
                caller.as_ref(),
                &customer,
                memo,
                Action::Refund { amount, reference },
                false,
            )
            .await?,
        ))
    }

    async fn reverse_booking(
        &self,
        request: Request<pb::ReverseBookingRequest>,
    ) -> Result<Response<pb::BookingResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let customer = customer(&mut v, "customer_id", &r.customer_id);
        let target = booking(&mut v, "booking_id", &r.booking_id, true);
        let reason = v.text("reason", &r.reason, 500, true);
        let (ctx, customer, target) = v.finish((ctx, customer, target))?;
        let (Some(customer), Some(target)) = (customer, target) else {
            return Err(invalid_argument("booking_id", "required"));
        };
        Ok(Response::new(
            self.book(
                ctx,
                caller.as_ref(),
                &customer,
                reason,
                Action::Reverse { booking: target },
                false,
            )
            .await?,
        ))
    }

    async fn open_claim(&self, request: Request<pb::OpenClaimRequest>) -> Result<Response<pb::ClaimResult>, Status> {
        self.claims.open_claim(request).await
    }

    async fn add_claim_lines(
        &self,
        request: Request<pb::AddClaimLinesRequest>,
    ) -> Result<Response<pb::ClaimResult>, Status> {
        self.claims.add_claim_lines(request).await
    }

    async fn set_claim_details(
        &self,
        request: Request<pb::SetClaimDetailsRequest>,
    ) -> Result<Response<pb::ClaimResult>, Status> {
        self.claims.set_claim_details(request).await
    }

    async fn confirm_claim(
        &self,
        request: Request<pb::ConfirmClaimRequest>,
    ) -> Result<Response<pb::ClaimResult>, Status> {
        self.claims.confirm_claim(request).await
    }

    async fn adjust_claim(
        &self,
        request: Request<pb::AdjustClaimRequest>,
    ) -> Result<Response<pb::ClaimResult>, Status> {
        self.claims.adjust_claim(request).await
    }

    async fn get_claim(&self, request: Request<pb::GetClaimRequest>) -> Result<Response<pb::GetClaimResponse>, Status> {
        self.claims.get_claim(request).await
    }

    async fn list_claims(
        &self,
        request: Request<pb::ListClaimsRequest>,
    ) -> Result<Response<pb::ListClaimsResponse>, Status> {
        self.claims.list_claims(request).await
    }

    async fn get_violation(
        &self,
        request: Request<pb::GetViolationRequest>,
    ) -> Result<Response<pb::GetViolationResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.text("violation_id", &r.violation_id, 64, true);
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let row = queries::violation(&self.db, &id)
            .await
            .map_err(query_status)?
            .ok_or_else(|| Status::not_found("violation not found"))?;
        let mut out = violation_pb(&row.violation, &self.ladder);
        out.timeline = queries::timeline(&self.db, &id)
            .await
            .map_err(query_status)?
            .into_iter()
            .map(|t| pb::TimelineEntry {
                sequence: t.sequence,
                at: Some(to_timestamp(t.at)),
                actor: t.actor,
                event: Some(pb::ViolationEvent {
                    event: Some(violation_event_pb(&t.event, &id)),
                }),
            })
            .collect();
        Ok(Response::new(pb::GetViolationResponse { violation: Some(out) }))
    }

    async fn list_violations(
        &self,
        request: Request<pb::ListViolationsRequest>,
    ) -> Result<Response<pb::ListViolationsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let mut filter = ViolationFilter::default();
        for (i, s) in r.statuses.iter().enumerate() {
            if let Some(s) = v.enum_value(&format!("statuses[{i}]"), "violation status", *s, status_from_pb(*s)) {
                filter.statuses.push(s);
            }
        }
        if !r.plate.trim().is_empty() {
            filter.plate_key = v.plate("plate", &r.plate).map(|p| p.key());
        }
        let customer_id = v.text("customer_id", &r.customer_id, 64, false);
        filter.customer_id = Some(customer_id).filter(|c| !c.is_empty());
        let city = v.text("city", &r.city, 8, false);
        filter.city = Some(city).filter(|c| !c.is_empty());
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        if !queries::check_page_token(&token) {
            v.add("page.page_token", "not a token this service issued");
        }
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let (rows, next) = queries::violations(&self.db, &filter, size, &token)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::ListViolationsResponse {
            violations: rows
                .iter()
                .map(|row| violation_pb(&row.violation, &self.ladder))
                .collect(),
            page: Some(common::PageResponse { next_page_token: next }),
        }))
    }

    async fn list_exceptions(
        &self,
        request: Request<pb::ListExceptionsRequest>,
    ) -> Result<Response<pb::ListViolationsResponse>, Status> {
        let r = request.into_inner();
        self.list_violations(Request::new(pb::ListViolationsRequest {
            statuses: vec![pb::ViolationStatus::Exception as i32],
            city: r.city,
            page: r.page,
            consistency: r.consistency,
            ..Default::default()
        }))
        .await
    }

    async fn get_statement(
        &self,
        request: Request<pb::GetStatementRequest>,
    ) -> Result<Response<pb::GetStatementResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let customer = customer(&mut v, "customer_id", &r.customer_id);
        let as_of = as_of(&mut v, &r.as_of, self.clock.now());
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        if !queries::check_page_token(&token) {
            v.add("page.page_token", "not a token this service issued");
        }
        let customer = v
            .finish(customer)?
            .ok_or_else(|| invalid_argument("customer_id", "required"))?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let first_page = token.is_empty();
        let (rows, next) = queries::statement_page(&self.db, customer.as_str(), as_of, size, &token)
            .await
            .map_err(query_status)?;
        let end = queries::statement_end(&self.db, customer.as_str(), as_of)
            .await
            .map_err(query_status)?;
        let after_last = end.as_ref().is_none_or(|(_, last)| *last);
        let end = end.map(|(row, _)| row);
        let open_items = if first_page {
            queries::open_items(&self.db, customer.as_str(), as_of, after_last)
                .await
                .map_err(query_status)?
        } else {
            Vec::new()
        };
        let overflow = || Status::out_of_range("the statement's running balance overflows");
        let (balance, held) = end
            .as_ref()
            .map_or((0, 0), |e| (e.line.balance.0, e.line.deposit_held.0));
        // What stood before the page's first line: its figures less what it changed.
        let (opening_balance, opening_held) = match rows.first() {
            None => (balance, held),
            Some(first) => {
                let l = &first.line;
                let changed = l.debit.0.checked_sub(l.credit.0).ok_or_else(overflow)?;
                (
                    l.balance.0.checked_sub(changed).ok_or_else(overflow)?,
                    l.deposit_held.0.checked_sub(l.deposit_change.0).ok_or_else(overflow)?,
                )
            }
        };
        let lines: Vec<rentops_ledger::StatementLine> = rows.into_iter().map(|r| r.line).collect();
        let mut csv = String::new();
        if first_page {
            csv.push_str(rentops_ledger::STATEMENT_CSV_HEADER);
            csv.push_str("\r\n");
        }
        csv.push_str(&rentops_ledger::csv_rows(&lines).map_err(|e| Status::out_of_range(e.to_string()))?);
        Ok(Response::new(pb::GetStatementResponse {
            customer_id: customer.to_string(),
            as_of: date_text(as_of),
            lines: lines
                .iter()
                .map(|l| pb::StatementLine {
                    booked_at: Some(to_timestamp(l.booked_at)),
                    booking_id: l.booking.to_string(),
                    kind: kind_pb(l.kind) as i32,
                    reference: l.reference.clone().unwrap_or_default(),
                    about_booking_id: l.about.map(|b| b.to_string()).unwrap_or_default(),
                    due: l.due.map(date_text).unwrap_or_default(),
                    debit_fen: l.debit.0,
                    credit_fen: l.credit.0,
                    balance_fen: l.balance.0,
                    deposit_change_fen: l.deposit_change.0,
                    deposit_held_fen: l.deposit_held.0,
                    memo: l.memo.clone(),
                })
                .collect(),
            balance_fen: balance,
            deposit_held_fen: held,
            open_items: open_items
                .iter()
                .map(|o| pb::OpenItem {
                    booking_id: o.booking.to_string(),
                    kind: kind_pb(o.kind) as i32,
                    due: date_text(o.due),
                    order_id: o.order.as_ref().map(|x| x.to_string()).unwrap_or_default(),
                    city: o.city.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                    amount_fen: o.amount.0,
                    open_fen: o.open.0,
                })
                .collect(),
            csv,
            page: Some(common::PageResponse { next_page_token: next }),
            opening_balance_fen: opening_balance,
            opening_deposit_held_fen: opening_held,
            total_debit_fen: end.as_ref().map_or(0, |e| e.total_debit),
            total_credit_fen: end.as_ref().map_or(0, |e| e.total_credit),
            line_count: end.as_ref().map_or(0, |e| u32::try_from(e.line_no).unwrap_or(u32::MAX)),
        }))
    }

    async fn get_aging(&self, request: Request<pb::GetAgingRequest>) -> Result<Response<pb::GetAgingResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let as_of = as_of(&mut v, &r.as_of, self.clock.now());
        let city = v.text("city", &r.city, 8, false);
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let rows = queries::open_by_due(&self.db, as_of, Some(city.as_str()).filter(|c| !c.is_empty()))
            .await
            .map_err(query_status)?;
        let mut cities: std::collections::BTreeMap<String, rentops_ledger::AgingBuckets> = Default::default();
        let mut total = rentops_ledger::AgingBuckets::default();
        for (city, due, open) in rows {
            let days = (as_of - due).whole_days();
            let overflow = |e: LedgerError| Status::out_of_range(e.to_string());
            cities.entry(city).or_default().add(days, Fen(open)).map_err(overflow)?;
            total.add(days, Fen(open)).map_err(overflow)?;
        }
        Ok(Response::new(pb::GetAgingResponse {
            as_of: date_text(as_of),
            cities: cities
                .iter()
                .map(|(city, b)| {
                    Ok(pb::CityAging {
                        city: city.clone(),
                        buckets: Some(buckets_pb(b)?),
                    })
                })
                .collect::<Result<_, Status>>()?,
            total: Some(buckets_pb(&total)?),
        }))
    }

    async fn get_collection_kpis(
        &self,
        request: Request<pb::GetCollectionKpisRequest>,
    ) -> Result<Response<pb::GetCollectionKpisResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let month = |v: &mut Violations, field: &str, text: &str| {
            let first = parse_date(&format!("{}-01", text.trim()));
            if first.is_none() {
                v.add(field, "a month, YYYY-MM");
            }
            first
        };
        let from = month(&mut v, "from_month", &r.from_month);
        let to = if r.to_month.trim().is_empty() {
            from
        } else {
            month(&mut v, "to_month", &r.to_month)
        };
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            v.add("to_month", "before from_month");
        }
        let city = v.text("city", &r.city, 8, false);
        let (from, to) = v.finish((from, to))?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(invalid_argument("from_month", "required"));
        };
        // The first day after the last month.
        let end = {
            let (y, m) = (to.year(), to.month());
            let (y, m) = if m == time::Month::December {
                (y + 1, time::Month::January)
            } else {
                (y, m.next())
            };
            time::Date::from_calendar_date(y, m, 1).map_err(|e| invalid_argument("to_month", e.to_string()))?
        };
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let rows = queries::charge_recoveries(&self.db, from, end, Some(city.as_str()).filter(|c| !c.is_empty()))
            .await
            .map_err(query_status)?;
        #[derive(Default)]
        struct Sum {
            charges: u32,
            billed: i64,
            recovered: i64,
            recovered_charges: u32,
            days: i64,
        }
        let mut sums: std::collections::BTreeMap<(String, String), Sum> = Default::default();
        let overflow = || Status::out_of_range("the KPIs' sums overflow");
        for (city, booked, amount, recovered, last) in rows {
            let month = format!("{:04}-{:02}", booked.year(), u8::from(booked.month()));
            let s = sums.entry((city, month)).or_default();
            s.charges += 1;
            s.billed = s.billed.checked_add(amount).ok_or_else(overflow)?;
            s.recovered = s.recovered.checked_add(recovered.min(amount)).ok_or_else(overflow)?;
            if recovered >= amount
                && let Some(last) = last
            {
                s.recovered_charges += 1;
                s.days += (last - booked).whole_days().max(0);
            }
        }
        Ok(Response::new(pb::GetCollectionKpisResponse {
            kpis: sums
                .into_iter()
                .map(|((city, month), s)| pb::CollectionKpi {
                    city,
                    month,
                    charges: s.charges,
                    billed_fen: s.billed,
                    recovered_fen: s.recovered,
                    recovery_rate_bp: if s.billed > 0 {
                        u32::try_from(i128::from(s.recovered) * 10_000 / i128::from(s.billed)).unwrap_or(10_000)
                    } else {
                        0
                    },
                    recovered_charges: s.recovered_charges,
                    mean_days_to_recover: if s.recovered_charges > 0 {
                        s.days as f64 / f64::from(s.recovered_charges)
                    } else {
                        0.0
                    },
                })
                .collect(),
        }))
    }

    async fn list_overdue(
        &self,
        request: Request<pb::ListOverdueRequest>,
    ) -> Result<Response<pb::ListOverdueResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let as_of = as_of(&mut v, &r.as_of, self.clock.now());
        let city = v.text("city", &r.city, 8, false);
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let (rows, next) = queries::overdue(
            &self.db,
            as_of,
            Some(city.as_str()).filter(|c| !c.is_empty()),
            size,
            &token,
        )
        .await
        .map_err(query_status)?;
        Ok(Response::new(pb::ListOverdueResponse {
            charges: rows
                .into_iter()
                .map(|o| pb::OverdueCharge {
                    customer_id: o.customer_id,
                    booking_id: o.booking_id,
                    due: date_text(o.due),
                    days_overdue: u32::try_from((as_of - o.due).whole_days()).unwrap_or(0),
                    open_fen: o.open_fen,
                    city: o.city,
                    order_id: o.order_id,
                    reference: o.reference,
                })
                .collect(),
            page: Some(common::PageResponse { next_page_token: next }),
        }))
    }
}

// ---- repair claims ------------------------------------------------------------------------------

/// The claims' part of the API (confirmations cross into the ledger: see [`crate::claims`]).
pub struct ClaimsApi {
    pub claims: crate::claims::Claims,
    pub db: Db,
    pub checkpoints: Checkpoints,
    pub clock: Arc<dyn Clock>,
}

fn invoice_lines(
    v: &mut Violations,
    lines: &[pb::InvoiceLineInput],
    field: &str,
) -> Vec<crate::domain::claim::InvoiceLine> {
    if lines.len() > 100 {
        v.add(field, "at most 100 lines");
    }
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let f = |name: &str| format!("{field}[{i}].{name}");
            let kind = v.enum_value(
                &f("kind"),
                "invoice line kind",
                l.kind,
                crate::domain::claim_codec::line_kind_from_pb(l.kind),
            );
            let description = v.text(&f("description"), &l.description, 200, true);
            let amount = positive(v, &f("amount"), l.amount.as_ref());
            let document = v.text(&f("document_ref"), &l.document_ref, 64, false);
            Some(crate::domain::claim::InvoiceLine {
                kind: kind?,
                description,
                amount,
                document,
            })
        })
        .collect()
}

fn claim_status_pb(c: &crate::domain::claim::Claim) -> pb::ClaimStatus {
    if c.is_confirmed() {
        pb::ClaimStatus::Confirmed
    } else {
        pb::ClaimStatus::Open
    }
}

impl ClaimsApi {
    fn claim_pb(&self, id: &str, c: &crate::domain::claim::Claim) -> Result<pb::Claim, Status> {
        use crate::domain::claim_codec::{cause_pb, liability_pb, lines_pb, opened_pb};
        let o = c.opened.as_ref().ok_or_else(|| Status::not_found("claim not found"))?;
        let liability = c.liability(&self.claims.terms).map_err(DomainStatus::status)?;
        Ok(pb::Claim {
            claim_id: id.to_owned(),
            status: claim_status_pb(c) as i32,
            opened: Some(opened_pb(id, o)),
            lines: lines_pb(&c.lines),
            cause: cause_pb(c.cause.unwrap_or(o.cause)) as i32,
            repair_days: c.repair_days,
            liability: Some(liability_pb(&liability)),
            charge_booking_id: c.charged.as_ref().map(|x| x.booking.clone()).unwrap_or_default(),
            confirmed_by: c.charged.as_ref().map(|x| x.by.clone()).unwrap_or_default(),
            recovery_fen: c.recovery.0,
            timeline: Vec::new(),
        })
    }

    fn result(&self, done: &Executed<crate::domain::claim::Claim>, booking: String) -> Result<pb::ClaimResult, Status> {
        Ok(pb::ClaimResult {
            claim_id: done.aggregate_id.clone(),
            sequence: done.sequence,
            events_appended: done.events_appended,
            charge_booking_id: booking,
            liability: Some(crate::domain::claim_codec::liability_pb(
                &done.state.liability(&self.claims.terms).map_err(DomainStatus::status)?,
            )),
        })
    }

    pub async fn open_claim(
        &self,
        request: Request<pb::OpenClaimRequest>,
    ) -> Result<Response<pb::ClaimResult>, Status> {
        use crate::domain::claim::{Cause, ClaimCommand, Opened};
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let order = v.text("order_id", &r.order_id, 64, true);
        let cause = if r.cause == 0 {
            Some(Cause::Ordinary)
        } else {
            v.enum_value(
                "cause",
                "damage cause",
                r.cause,
                crate::domain::claim_codec::cause_from_pb(r.cause),
            )
        };
        let damage = v.text("damage", &r.damage, 500, true);
        let lines = invoice_lines(&mut v, &r.lines, "lines");
        if r.repair_days > 365 {
            v.add("repair_days", "at most 365");
        }
        let hire = if order.is_empty() {
            None
        } else {
            let h = queries::claim_hire(&self.db, &order).await.map_err(query_status)?;
            if h.is_none() {
                v.add(
                    "order_id",
                    "no such hire (is the order service's stream read up to it?)",
                );
            }
            h
        };
        let (ctx, hire, cause) = v.finish((ctx, hire, cause))?;
        let (Some((customer, city, cover, vehicle)), Some(cause)) = (hire, cause) else {
            return Err(invalid_argument("order_id", "required"));
        };
        let now = self.clock.now();
        let id = uuid::Uuid::new_v5(
            &crate::domain::BOOKING_NAMESPACE,
            format!("claim:{}", ctx.request_id).as_bytes(),
        )
        .to_string();
        let command = ClaimCommand::Open(Opened {
            order_id: order,
            customer_id: customer,
            city,
            vehicle_id: vehicle,
            cover: rentops_kernel::CoverTier::parse(&cover).unwrap_or_default(),
            cause,
            damage_noted: damage,
            opened_at: now,
            from_return: false,
            lines,
            repair_days: r.repair_days,
        });
        let done = api::execute(&self.claims.claims, &id, ctx, now, &command, true).await?;
        Ok(Response::new(self.result(&done, String::new())?))
    }

    pub async fn add_claim_lines(
        &self,
        request: Request<pb::AddClaimLinesRequest>,
    ) -> Result<Response<pb::ClaimResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.text("claim_id", &r.claim_id, 64, true);
        if r.lines.is_empty() {
            v.add("lines", "at least one line");
        }
        let lines = invoice_lines(&mut v, &r.lines, "lines");
        let ctx = v.finish(ctx)?;
        let now = self.clock.now();
        let command = crate::domain::claim::ClaimCommand::AddLines { lines, at: now };
        let done = api::execute(&self.claims.claims, &id, ctx, now, &command, false).await?;
        Ok(Response::new(self.result(&done, String::new())?))
    }

    pub async fn set_claim_details(
        &self,
        request: Request<pb::SetClaimDetailsRequest>,
    ) -> Result<Response<pb::ClaimResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.text("claim_id", &r.claim_id, 64, true);
        let cause = if r.cause == 0 {
            None
        } else {
            v.enum_value(
                "cause",
                "damage cause",
                r.cause,
                crate::domain::claim_codec::cause_from_pb(r.cause),
            )
        };
        if r.repair_days.is_some_and(|d| d > 365) {
            v.add("repair_days", "at most 365");
        }
        let ctx = v.finish(ctx)?;
        let now = self.clock.now();
        let command = crate::domain::claim::ClaimCommand::SetDetails {
            cause,
            repair_days: r.repair_days,
            at: now,
        };
        let done = api::execute(&self.claims.claims, &id, ctx, now, &command, false).await?;
        Ok(Response::new(self.result(&done, String::new())?))
    }

    pub async fn confirm_claim(
        &self,
        request: Request<pb::ConfirmClaimRequest>,
    ) -> Result<Response<pb::ClaimResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.text("claim_id", &r.claim_id, 64, true);
        let expected = v.money("expected_total", r.expected_total.as_ref(), false);
        let ctx = v.finish(ctx)?;
        let (done, booking) = self.claims.confirm(&id, ctx, expected, self.clock.now()).await?;
        Ok(Response::new(self.result(&done, booking)?))
    }

    pub async fn adjust_claim(
        &self,
        request: Request<pb::AdjustClaimRequest>,
    ) -> Result<Response<pb::ClaimResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.text("claim_id", &r.claim_id, 64, true);
        let lines = (!r.lines.is_empty()).then(|| invoice_lines(&mut v, &r.lines, "lines"));
        if r.repair_days.is_some_and(|d| d > 365) {
            v.add("repair_days", "at most 365");
        }
        let recovery = v.money("recovery", r.recovery.as_ref(), false);
        let reason = v.text("reason", &r.reason, 500, true);
        let ctx = v.finish(ctx)?;
        let (done, booking) = self
            .claims
            .adjust(&id, ctx, lines, r.repair_days, recovery, reason, self.clock.now())
            .await?;
        Ok(Response::new(self.result(&done, booking)?))
    }

    pub async fn get_claim(
        &self,
        request: Request<pb::GetClaimRequest>,
    ) -> Result<Response<pb::GetClaimResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.text("claim_id", &r.claim_id, 64, true);
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let row = queries::claim(&self.db, &id)
            .await
            .map_err(query_status)?
            .ok_or_else(|| Status::not_found("claim not found"))?;
        let mut claim = self.claim_pb(&row.claim_id, &row.claim)?;
        claim.timeline = queries::claim_timeline(&self.db, &id)
            .await
            .map_err(query_status)?
            .into_iter()
            .map(|(sequence, at, actor, event_type)| pb::ClaimTimelineEntry {
                sequence,
                at: Some(to_timestamp(at)),
                actor,
                event_type,
            })
            .collect();
        Ok(Response::new(pb::GetClaimResponse { claim: Some(claim) }))
    }

    pub async fn list_claims(
        &self,
        request: Request<pb::ListClaimsRequest>,
    ) -> Result<Response<pb::ListClaimsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let status = match pb::ClaimStatus::try_from(r.status) {
            Ok(pb::ClaimStatus::Unspecified) => None,
            Ok(pb::ClaimStatus::Open) => Some("OPEN"),
            Ok(pb::ClaimStatus::Confirmed) => Some("CONFIRMED"),
            Err(_) => {
                v.add("status", format!("unknown claim status {}", r.status));
                None
            }
        };
        let order = v.text("order_id", &r.order_id, 64, false);
        let customer = v.text("customer_id", &r.customer_id, 64, false);
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let rows = queries::claims(&self.db, status, &order, &customer)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::ListClaimsResponse {
            claims: rows
                .iter()
                .map(|row| self.claim_pb(&row.claim_id, &row.claim))
                .collect::<Result<_, Status>>()?,
        }))
    }
}
