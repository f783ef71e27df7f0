//! The complaint gRPC API: parse → command → reply, and queries over the read models. Every
//! invalid field is answered INVALID_ARGUMENT naming it, and nothing is appended then; a link
//! to something the service has not heard of from the other services' events, or that belongs
//! to another customer, is an invalid field like any other. Work entered late names when it
//! happened (`opened_at`, `at`): at most 5 minutes ahead of the service's clock and 400 days
//! back; the case refuses a time before its latest change.

use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::CommandHandler;
use rentops_kernel::{Calendar, CustomerId, EventCodec, Fen};
use rentops_kit::api::{self, DomainStatus};
use rentops_projection::{Checkpoints, Db};
use rentops_proto::common;
use rentops_proto::complaint as pb;
use rentops_proto::timestamp::to_timestamp;
use rentops_runtime::auth::{Caller, Declaration, Role};
use rentops_runtime::validate::{Context, Violations, context, page_size};
use rentops_runtime::{Clock, invalid_argument};
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use crate::domain::case::Context as CaseContext;
use crate::domain::codec::{clock_pb, links_pb, remedy_pb};
use crate::domain::sla::{self, ClockKind};
use crate::domain::{
    Case, CaseAggregate, CaseCommand, CaseError, CaseEvent, Channel, CloseReason, Links, Opened, Policies, Remedy,
    Severity, Status as CaseStatus, Taxonomy, WaitingOn, case_id_for_request, severity_by_standard,
};
use crate::projections::analysis;
use crate::projections::queries::{self, CaseFilter, QueryError};

const DESK: &[Role] = &[Role::Desk, Role::Supervisor];
const SUPERVISOR: &[Role] = &[Role::Supervisor];
const READ: &[Role] = &[Role::Desk, Role::Supervisor, Role::Finance, Role::Analyst];

/// Who may call each RPC of `rentops.complaint.v1.ComplaintService`. A resolution that waives
/// or refunds moves money: the handler asks for the supervisor role for it.
pub const POLICY: Declaration = (
    "rentops.complaint.v1.ComplaintService",
    &[
        ("OpenCase", DESK),
        ("OverrideSeverity", SUPERVISOR),
        ("AssignCase", DESK),
        ("RecordFirstResponse", DESK),
        ("StartInvestigation", DESK),
        ("WaitOnCustomer", DESK),
        ("WaitOnThirdParty", DESK),
        ("ResumeCase", DESK),
        ("SetRootCause", DESK),
        ("ResolveCase", DESK),
        ("CloseCase", DESK),
        ("ReopenCase", DESK),
        ("GetCase", READ),
        ("ListCases", READ),
        ("GetTaxonomy", READ),
        ("AnalyzeComplaints", READ),
        ("ListHotSpots", READ),
    ],
);

/// The views of the other services' streams that a case's links are checked against.
pub struct LinkViews {
    pub js: async_nats::jetstream::Context,
    /// Each view's stream and the checkpoints of its projection.
    pub views: Vec<(String, Checkpoints)>,
}

/// How long a link not found waits for the views to catch up before it is refused.
const CATCH_UP: Duration = Duration::from_secs(2);

impl LinkViews {
    /// Waits (up to [`CATCH_UP`]) until every view has applied its stream's last event as of
    /// now. A stream that is not there, or a broker that does not answer, waits for nothing:
    /// the check then judges by what was read.
    async fn catch_up(&self) {
        let waits = self.views.iter().map(|(stream, checkpoints)| async move {
            let last = match self.js.get_stream(stream.as_str()).await {
                Ok(mut s) => match s.info().await {
                    Ok(info) => info.state.last_sequence,
                    Err(_) => return,
                },
                Err(_) => return,
            };
            if let Err(e) = checkpoints.wait_for(last, CATCH_UP).await {
                tracing::debug!(%stream, error = %e, "a link view did not catch up in time");
            }
        });
        futures::future::join_all(waits).await;
    }
}

pub struct ComplaintApi {
    /// The other services' views, to catch up before a link is refused.
    pub links: LinkViews,
    pub cases: Arc<CommandHandler<CaseAggregate>>,
    pub db: Db,
    /// The cases' projection's checkpoints.
    pub checkpoints: Checkpoints,
    pub clock: Arc<dyn Clock>,
    pub taxonomy: Arc<Taxonomy>,
    pub policies: Arc<Policies>,
    pub calendar: Arc<Calendar>,
    /// Segments complaint texts into keywords (built once: about 80 ms and 35 MB).
    pub keywords: Arc<rentops_insight::Keywords>,
}

/// The longest period an analysis covers.
const MAX_PERIOD_DAYS: i64 = 366;

fn period(
    v: &mut Violations,
    from: Option<&prost_types::Timestamp>,
    to: Option<&prost_types::Timestamp>,
) -> (OffsetDateTime, OffsetDateTime) {
    let from = v.required_time("period_from", from);
    let to = v.required_time("period_to", to);
    if to <= from {
        v.add("period_to", "after period_from");
    } else if to - from > time::Duration::days(MAX_PERIOD_DAYS) {
        v.add("period_to", format!("at most {MAX_PERIOD_DAYS} days after period_from"));
    }
    (from, to)
}

fn rate_pb(r: analysis::Rate) -> pb::Rate {
    pb::Rate {
        value: r.value,
        cases: r.cases,
        orders: r.orders,
        per_thousand: r.per_thousand,
    }
}

fn trend_pb(t: analysis::Trend) -> pb::Trend {
    pb::Trend {
        value: t.value,
        current: t.current,
        previous: t.previous,
        change_percent: t.change_percent,
    }
}

fn repeat_pb(r: analysis::Repeat) -> pb::Repeat {
    pb::Repeat {
        id: r.id,
        model: r.model,
        cases: r.cases,
    }
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn hot_spot_pb(h: analysis::HotSpotRow) -> pb::HotSpot {
    pb::HotSpot {
        hot_spot_id: h.hot_spot_id,
        category: h.category,
        period_start: Some(to_timestamp(h.period_start)),
        period_end: Some(to_timestamp(h.period_end)),
        current: h.current,
        previous: h.previous,
        rise_percent: h.rise_percent,
        brief: h.brief,
    }
}

impl DomainStatus for CaseError {
    fn status(self) -> Status {
        match self {
            CaseError::NotFound => Status::not_found("case not found"),
            e @ CaseError::AlreadyOpened => Status::already_exists(e.to_string()),
            CaseError::Invalid { field, message } => invalid_argument(&field, message),
            CaseError::BeforeLatestChange { at, latest } => invalid_argument(
                "at",
                format!("{at} is before the case's latest change, at {latest}; a case's history stays in time order"),
            ),
            e @ (CaseError::Closed
            | CaseError::Resolved
            | CaseError::NotResolved
            | CaseError::NotWaiting
            | CaseError::Waiting(_)
            | CaseError::NotAssigned
            | CaseError::FirstResponseRecorded(_)
            | CaseError::AlreadyInvestigating
            | CaseError::SameSeverity(_)
            | CaseError::NotSilentYet { .. }
            | CaseError::NotReached { .. }
            | CaseError::ClockStopped(_)
            | CaseError::Calendar(_)) => Status::failed_precondition(e.to_string()),
        }
    }
}

fn query_status(e: QueryError) -> Status {
    e.into()
}

fn money_remedy(v: &mut Violations, field: &str, m: &common::Money) -> Fen {
    let amount = v.money(field, Some(m), true).unwrap_or(Fen::ZERO);
    if amount == Fen::ZERO {
        v.add(format!("{field}.amount_fen"), "must be more than zero");
    }
    amount
}

fn remedies(v: &mut Violations, list: &[pb::Remedy]) -> Vec<Remedy> {
    use pb::remedy::Remedy as R;
    let mut out = Vec::new();
    if list.len() > 20 {
        v.add("remedies", "at most 20");
        return out;
    }
    for (i, r) in list.iter().enumerate() {
        let field = |name: &str| format!("remedies[{i}].{name}");
        match &r.remedy {
            None => v.add(format!("remedies[{i}]"), "required: waive, voucher or refund"),
            Some(R::Voucher(m)) => out.push(Remedy::Voucher(money_remedy(v, &field("voucher"), m))),
            Some(R::Refund(m)) => out.push(Remedy::Refund(money_remedy(v, &field("refund"), m))),
            Some(R::Waive(w)) => {
                let amount = w.amount.as_ref().map(|m| money_remedy(v, &field("waive.amount"), m));
                out.push(Remedy::Waive {
                    customer_id: v.text(&field("waive.customer_id"), &w.customer_id, 64, true),
                    violation_id: v.text(&field("waive.violation_id"), &w.violation_id, 64, false),
                    charge_booking_id: v.text(&field("waive.charge_booking_id"), &w.charge_booking_id, 64, false),
                    amount,
                });
            }
        }
    }
    out
}

/// One line for the timeline.
fn summary(event: &CaseEvent) -> String {
    match event {
        CaseEvent::Opened(o) => format!(
            "opened through {}: {}/{}, {} ({})",
            o.channel.code(),
            o.category,
            o.sub_category,
            o.severity.code(),
            o.severity_basis
        ),
        CaseEvent::SeverityOverridden {
            previous,
            severity,
            reason,
            ..
        } => format!("severity {} → {}: {reason}", previous.code(), severity.code()),
        CaseEvent::Assigned { agent, .. } => format!("assigned to {agent}"),
        CaseEvent::FirstResponseRecorded { note, .. } => format!("first response: {note}"),
        CaseEvent::InvestigationStarted { .. } => "investigation started".into(),
        CaseEvent::WaitingStarted { on, reason, .. } => format!(
            "waiting on {}: {reason}",
            match on {
                WaitingOn::Customer => "the customer",
                WaitingOn::ThirdParty => "a third party",
            }
        ),
        CaseEvent::Resumed { .. } => "resumed".into(),
        CaseEvent::RootCauseSet { root_cause, note, .. } => format!("root cause {root_cause}: {note}"),
        CaseEvent::Resolved {
            explanation, remedies, ..
        } => format!("resolved ({} remedies): {explanation}", remedies.len()),
        CaseEvent::Closed { reason, .. } => match reason {
            CloseReason::CustomerAccepted => "closed: the customer accepted".into(),
            CloseReason::Silence => "closed: no word from the customer since the resolution".into(),
        },
        CaseEvent::Reopened { reason, .. } => format!("reopened: {reason}"),
        CaseEvent::SlaAtRisk(m) => format!(
            "{} clock at risk: {} of {} spent ({})",
            m.clock.code(),
            m.spent,
            m.target,
            m.policy
        ),
        CaseEvent::SlaBreached(m) => format!(
            "{} clock breached: {} of {} spent ({})",
            m.clock.code(),
            m.spent,
            m.target,
            m.policy
        ),
        CaseEvent::Escalated { to, reason, .. } => format!("escalated to {to}: {reason}"),
    }
}

fn close_reason_pb(r: CloseReason) -> pb::CloseReason {
    match r {
        CloseReason::CustomerAccepted => pb::CloseReason::CustomerAccepted,
        CloseReason::Silence => pb::CloseReason::Silence,
    }
}

impl ComplaintApi {
    /// The clocks of `case` as of `now`.
    pub fn clocks(&self, case: &Case, now: OffsetDateTime) -> Vec<pb::Clock> {
        let Some(policy) = case.policy(&self.policies) else {
            return Vec::new();
        };
        ClockKind::ALL
            .into_iter()
            .filter_map(
                |clock| match sla::view(&self.policies, policy, &self.calendar, clock, &case.run(clock), now) {
                    Ok(v) => Some(pb::Clock {
                        clock: clock_pb(clock) as i32,
                        policy: v.policy,
                        business_hours: v.business_hours,
                        target_seconds: v.target.whole_seconds(),
                        spent_seconds: v.spent.whole_seconds(),
                        left_seconds: v.left.whole_seconds(),
                        state: v.state.code().into(),
                        at_risk_at: v.at_risk_at.map(to_timestamp),
                        breach_at: v.breach_at.map(to_timestamp),
                    }),
                    Err(e) => {
                        tracing::warn!(error = %e, "SLA clock cannot be counted");
                        None
                    }
                },
            )
            .collect()
    }

    pub fn case_pb(&self, id: &str, c: &Case, now: OffsetDateTime) -> pb::Case {
        let o = c.opened.as_ref();
        pb::Case {
            case_id: id.to_owned(),
            links: o.map(|o| links_pb(&o.links)),
            channel: o.map(|o| o.channel.code().to_owned()).unwrap_or_default(),
            category: o.map(|o| o.category.clone()).unwrap_or_default(),
            sub_category: o.map(|o| o.sub_category.clone()).unwrap_or_default(),
            severity: c.severity.code().into(),
            severity_basis: o.map(|o| o.severity_basis.clone()).unwrap_or_default(),
            text: o.map(|o| o.text.clone()).unwrap_or_default(),
            status: c.status.code().into(),
            agent: c.agent.clone().unwrap_or_default(),
            root_cause: c.root_cause.clone().unwrap_or_default(),
            opened_at: o.map(|o| to_timestamp(o.opened_at)),
            first_response_at: c.first_response_at.map(to_timestamp),
            explanation: c.resolution.as_ref().map(|r| r.explanation.clone()).unwrap_or_default(),
            remedies: c
                .resolution
                .as_ref()
                .map(|r| r.remedies.iter().map(remedy_pb).collect())
                .unwrap_or_default(),
            resolved_at: c
                .resolution
                .as_ref()
                .filter(|_| !c.status.is_active())
                .map(|r| to_timestamp(r.at)),
            closed_at: c.closed_at.map(to_timestamp),
            close_reason: c
                .closed
                .as_ref()
                .map(|(r, _)| close_reason_pb(*r) as i32)
                .unwrap_or_default(),
            reopened: c.reopened,
            escalated: !c.escalated.is_empty(),
            clocks: self.clocks(c, now),
            timeline: Vec::new(),
            city: o.map(|o| o.context.city.clone()).unwrap_or_default(),
            vehicle_model: o.map(|o| o.context.vehicle_model.clone()).unwrap_or_default(),
        }
    }

    /// Runs a command on case `id` for `ctx`, built by `command` from the actor and the time it
    /// happened (the request's `at`, checked by `Violations::happened`; unset: now). The event is appended
    /// with the service's now as its recorded time.
    async fn run(
        &self,
        mut v: Violations,
        ctx: Context,
        id: String,
        at: Option<&prost_types::Timestamp>,
        command: impl FnOnce(String, OffsetDateTime) -> CaseCommand,
    ) -> Result<Response<common::CommandResult>, Status> {
        let now = self.clock.now();
        let at = v.happened("at", at, now);
        let ctx = v.finish(ctx)?;
        let command = command(ctx.actor.clone(), at);
        let done = api::execute(&self.cases, &id, ctx, now, &command, false).await?;
        Ok(Response::new(api::command_result(&done)))
    }

    /// Checks the links of a new case against what the service knows; fills the car from the
    /// order or the violation when none is named, and returns the analysis context. A link not
    /// found may only not be read yet (an order placed a moment ago): before refusing it, the
    /// views of the other services' streams catch up with those streams as they are now.
    async fn check_links(&self, v: &mut Violations, links: &mut Links) -> Result<CaseContext, Status> {
        let mut first = Violations::default();
        let mut probe = links.clone();
        let context = self.check_links_once(&mut first, &mut probe).await?;
        if first.is_empty() {
            *links = probe;
            return Ok(context);
        }
        self.links.catch_up().await;
        self.check_links_once(v, links).await
    }

    async fn check_links_once(&self, v: &mut Violations, links: &mut Links) -> Result<CaseContext, Status> {
        let customer = links.customer_id.clone();
        let mut context = CaseContext::default();
        let mut car = String::new();
        if !links.order_id.is_empty() {
            match queries::order(&self.db, &links.order_id).await.map_err(query_status)? {
                None => v.add(
                    "order_id",
                    "no such order (not in the order service's events read so far)",
                ),
                Some(o) if o.customer_id != customer => v.add("order_id", "an order of another customer"),
                Some(o) => {
                    context.city = o.city;
                    context.order_channel = o.channel;
                    context.vehicle_model = o.model;
                    car = o.vehicle_id;
                }
            }
        }
        if !links.violation_id.is_empty() {
            match queries::violation(&self.db, &links.violation_id)
                .await
                .map_err(query_status)?
            {
                None => v.add(
                    "violation_id",
                    "no such violation (not in receivables' events read so far)",
                ),
                Some((c, _)) if c != customer => v.add("violation_id", "not a violation of this customer"),
                Some((_, vehicle)) => {
                    if car.is_empty() {
                        car = vehicle;
                    }
                }
            }
        }
        if !links.claim_id.is_empty() {
            match queries::claim(&self.db, &links.claim_id).await.map_err(query_status)? {
                None => v.add(
                    "claim_id",
                    "no such repair claim (not in receivables' events read so far)",
                ),
                Some(c) if c != customer => v.add("claim_id", "a repair claim of another customer"),
                Some(_) => {}
            }
        }
        if !links.charge_booking_id.is_empty() {
            match queries::charge(&self.db, &links.charge_booking_id)
                .await
                .map_err(query_status)?
            {
                None => v.add(
                    "charge_booking_id",
                    "no such charge (not in receivables' ledger events read so far)",
                ),
                Some(c) if c != customer => v.add("charge_booking_id", "a charge of another customer"),
                Some(_) => {}
            }
        }
        // The car named, or else the one of the order or the violation: read once, for its
        // existence (when named) and its model.
        let named = !links.vehicle_id.is_empty();
        if !named {
            links.vehicle_id = car;
        }
        if !links.vehicle_id.is_empty() {
            match queries::vehicle(&self.db, &links.vehicle_id)
                .await
                .map_err(query_status)?
            {
                None if named => v.add(
                    "vehicle_id",
                    "no such car (not in the fleet service's events read so far)",
                ),
                Some((model, _)) if !model.is_empty() => context.vehicle_model = model,
                _ => {}
            }
        }
        Ok(context)
    }
}

fn case_id(v: &mut Violations, text: &str) -> String {
    v.text("case_id", text, 64, true)
}

#[tonic::async_trait]
impl pb::complaint_service_server::ComplaintService for ComplaintApi {
    async fn open_case(&self, request: Request<pb::OpenCaseRequest>) -> Result<Response<pb::OpenCaseResponse>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let channel = match r.channel.trim() {
            "" => {
                v.add("channel", "required");
                None
            }
            text => {
                let c = Channel::parse(text);
                if c.is_none() {
                    let known: Vec<&str> = Channel::ALL.iter().map(|c| c.code()).collect();
                    v.add("channel", format!("unknown {text:?}; one of {}", known.join(", ")));
                }
                c
            }
        };
        let customer = v.text("customer_id", &r.customer_id, 64, true);
        if !customer.is_empty()
            && let Err(e) = CustomerId::parse(&customer)
        {
            v.add("customer_id", e.to_string());
        }
        let mut links = Links {
            customer_id: customer,
            order_id: v.text("order_id", &r.order_id, 64, false),
            vehicle_id: v.text("vehicle_id", &r.vehicle_id, 64, false),
            violation_id: v.text("violation_id", &r.violation_id, 64, false),
            claim_id: v.text("claim_id", &r.claim_id, 64, false),
            charge_booking_id: v.text("charge_booking_id", &r.charge_booking_id, 64, false),
        };
        let category = v.text("category", &r.category, 40, true);
        let sub_category = v.text("sub_category", &r.sub_category, 40, true);
        let standard = if category.is_empty() || sub_category.is_empty() {
            None
        } else {
            match self.taxonomy.classify(&category, &sub_category) {
                Ok(s) => Some(s),
                Err(e @ crate::domain::taxonomy::ClassifyError::UnknownCategory { .. }) => {
                    v.add("category", e.to_string());
                    None
                }
                Err(e) => {
                    v.add("sub_category", e.to_string());
                    None
                }
            }
        };
        let text = v.text("text", &r.text, 4000, true);
        let now = self.clock.now();
        let opened_at = v.happened("opened_at", r.opened_at.as_ref(), now);
        // The links are checked only once the request is otherwise well formed.
        let context_of = if v.is_empty() {
            self.check_links(&mut v, &mut links).await?
        } else {
            CaseContext::default()
        };
        let (ctx, channel, standard) = v.finish((ctx, channel, standard))?;
        let (Some(channel), Some(standard)) = (channel, standard) else {
            return Err(invalid_argument("channel", "required"));
        };
        let (severity, severity_basis) = severity_by_standard(channel, standard);
        let id = case_id_for_request(&ctx.request_id);
        let opened = Opened {
            case_id: id.clone(),
            links,
            channel,
            category,
            sub_category,
            severity,
            severity_basis,
            text,
            opened_at,
            opened_by: ctx.actor.clone(),
            context: context_of,
        };
        let done = api::execute(&self.cases, &id, ctx, now, &CaseCommand::Open(opened), true).await?;
        let o = done.state.opened.as_ref();
        Ok(Response::new(pb::OpenCaseResponse {
            result: Some(api::command_result(&done)),
            case_id: id,
            severity: done.state.severity.code().into(),
            severity_basis: o.map(|o| o.severity_basis.clone()).unwrap_or_default(),
        }))
    }

    async fn override_severity(
        &self,
        request: Request<pb::OverrideSeverityRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        let severity = Severity::parse(&r.severity);
        if severity.is_none() {
            v.add("severity", "P1, P2, P3 or P4");
        }
        let reason = v.text("reason", &r.reason, 500, true);
        let severity = severity.unwrap_or(Severity::P4);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::OverrideSeverity {
            severity,
            reason,
            by,
            at,
        })
        .await
    }

    async fn assign_case(
        &self,
        request: Request<pb::AssignCaseRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        let agent = v.text("agent", &r.agent, 100, true);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::Assign {
            agent,
            by,
            at,
        })
        .await
    }

    async fn record_first_response(
        &self,
        request: Request<pb::RecordFirstResponseRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        let note = v.text("note", &r.note, 2000, true);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::RecordFirstResponse {
            note,
            by,
            at,
        })
        .await
    }

    async fn start_investigation(
        &self,
        request: Request<pb::StartInvestigationRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::StartInvestigation {
            by,
            at,
        })
        .await
    }

    async fn wait_on_customer(
        &self,
        request: Request<pb::WaitRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        let reason = v.text("reason", &r.reason, 500, true);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::Wait {
            on: WaitingOn::Customer,
            reason,
            by,
            at,
        })
        .await
    }

    async fn wait_on_third_party(
        &self,
        request: Request<pb::WaitRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        let reason = v.text("reason", &r.reason, 500, true);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::Wait {
            on: WaitingOn::ThirdParty,
            reason,
            by,
            at,
        })
        .await
    }

    async fn resume_case(
        &self,
        request: Request<pb::ResumeCaseRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::Resume { by, at })
            .await
    }

    async fn set_root_cause(
        &self,
        request: Request<pb::SetRootCauseRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        let root_cause = v.text("root_cause", &r.root_cause, 40, true);
        if !root_cause.is_empty() && !self.taxonomy.is_root_cause(&root_cause) {
            v.add(
                "root_cause",
                format!("unknown {root_cause:?}; one of {}", self.taxonomy.root_cause_codes()),
            );
        }
        let note = v.text("note", &r.note, 2000, false);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::SetRootCause {
            root_cause,
            note,
            by,
            at,
        })
        .await
    }

    async fn resolve_case(
        &self,
        request: Request<pb::ResolveCaseRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        let explanation = v.text("explanation", &r.explanation, 4000, true);
        let remedies = remedies(&mut v, &r.remedies);
        // A waiver or a refund moves money: a supervisor's decision.
        let moves_money = remedies
            .iter()
            .any(|r| matches!(r, Remedy::Waive { .. } | Remedy::Refund(_)));
        if moves_money
            && let Some(c) = &caller
            && !c.roles.contains(&Role::Supervisor)
        {
            return Err(Status::permission_denied(
                "a resolution that waives or refunds needs the supervisor role",
            ));
        }
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::Resolve {
            explanation,
            remedies,
            by,
            at,
        })
        .await
    }

    async fn close_case(
        &self,
        request: Request<pb::CloseCaseRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::Close { by, at })
            .await
    }

    async fn reopen_case(
        &self,
        request: Request<pb::ReopenCaseRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = case_id(&mut v, &r.case_id);
        let reason = v.text("reason", &r.reason, 500, true);
        self.run(v, ctx, id, r.at.as_ref(), |by, at| CaseCommand::Reopen {
            reason,
            by,
            at,
        })
        .await
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::Case>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = case_id(&mut v, &r.case_id);
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let (case, _) = queries::case(&self.db, &id)
            .await
            .map_err(query_status)?
            .ok_or_else(|| Status::not_found("case not found"))?;
        let mut out = self.case_pb(&id, &case, self.clock.now());
        out.timeline = queries::timeline(&self.db, &id)
            .await
            .map_err(query_status)?
            .into_iter()
            .map(|t| pb::TimelineEntry {
                sequence: t.sequence,
                summary: CaseAggregate::decode(&t.name, &t.payload)
                    .map(|e| summary(&e))
                    .unwrap_or_else(|e| format!("(unreadable: {e})")),
                event: t.name,
                at: Some(to_timestamp(t.at)),
                actor: t.actor,
            })
            .collect();
        Ok(Response::new(out))
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        if !rentops_projection::query::is_page_token(&token) {
            v.add("page.page_token", "not a token this service issued");
        }
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let status = opt(&r.status).map(|s| match CaseStatus::parse(&s) {
            Some(st) => st.code().to_owned(),
            None => {
                v.add(
                    "status",
                    "OPEN, INVESTIGATING, WAITING_ON_CUSTOMER, WAITING_ON_THIRD_PARTY, RESOLVED or CLOSED",
                );
                s
            }
        });
        let severity = opt(&r.severity).map(|s| match Severity::parse(&s) {
            Some(sv) => sv.code().to_owned(),
            None => {
                v.add("severity", "P1, P2, P3 or P4");
                s
            }
        });
        let channel = opt(&r.channel).map(|s| match Channel::parse(&s) {
            Some(c) => c.code().to_owned(),
            None => {
                v.add("channel", "not a channel");
                s
            }
        });
        let category = opt(&r.category);
        if let Some(c) = &category
            && self.taxonomy.category(c).is_none()
        {
            v.add("category", "not a category of the taxonomy");
        }
        let filter = CaseFilter {
            status,
            severity,
            channel,
            category,
            agent: opt(&r.agent),
            customer_id: opt(&r.customer_id),
            escalated_only: r.escalated_only,
            opened_from: v.time("opened_from", r.opened_from.as_ref()),
            opened_to: v.time("opened_to", r.opened_to.as_ref()),
        };
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let (rows, next) = queries::cases(&self.db, &filter, size, &token)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::ListCasesResponse {
            cases: rows
                .into_iter()
                .map(|c| pb::CaseSummary {
                    case_id: c.case_id,
                    customer_id: c.customer_id,
                    channel: c.channel,
                    category: c.category,
                    sub_category: c.sub_category,
                    severity: c.severity,
                    status: c.status,
                    agent: c.agent,
                    opened_at: Some(to_timestamp(c.opened_at)),
                    escalated: c.escalated,
                    next_due_at: c.next_due_at.map(to_timestamp),
                })
                .collect(),
            page: Some(common::PageResponse { next_page_token: next }),
        }))
    }

    async fn get_taxonomy(&self, _request: Request<pb::GetTaxonomyRequest>) -> Result<Response<pb::Taxonomy>, Status> {
        Ok(Response::new(pb::Taxonomy {
            categories: self
                .taxonomy
                .categories()
                .iter()
                .map(|c| pb::taxonomy::Category {
                    code: c.code.clone(),
                    name: c.name.clone(),
                    sub_categories: c
                        .sub_categories
                        .iter()
                        .map(|s| pb::taxonomy::SubCategory {
                            code: s.code.clone(),
                            name: s.name.clone(),
                            severity: severity_by_standard(Channel::App, s.standard).0.code().into(),
                        })
                        .collect(),
                })
                .collect(),
            root_causes: self
                .taxonomy
                .root_causes()
                .iter()
                .map(|r| pb::taxonomy::RootCause {
                    code: r.code.clone(),
                    name: r.name.clone(),
                })
                .collect(),
        }))
    }

    async fn analyze_complaints(
        &self,
        request: Request<pb::AnalyzeComplaintsRequest>,
    ) -> Result<Response<pb::ComplaintAnalysis>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let (from, to) = period(&mut v, r.period_from.as_ref(), r.period_to.as_ref());
        let top = match r.top {
            0 => 10,
            n @ 1..=50 => n as usize,
            _ => {
                v.add("top", "at most 50");
                10
            }
        };
        let min = match r.repeat_min_cases {
            0 => 2,
            n => i64::from(n),
        };
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        let a = analysis::report(&self.db, &self.keywords, from, to, top, min)
            .await
            .map_err(query_status)?;
        let s = a.sla;
        Ok(Response::new(pb::ComplaintAnalysis {
            period_from: Some(to_timestamp(from)),
            period_to: Some(to_timestamp(to)),
            previous_from: Some(to_timestamp(analysis::previous(from, to).0)),
            by_city: a.by_city.into_iter().map(rate_pb).collect(),
            by_channel: a.by_channel.into_iter().map(rate_pb).collect(),
            by_model: a.by_model.into_iter().map(rate_pb).collect(),
            categories: a.categories.into_iter().map(trend_pb).collect(),
            root_causes: a.root_causes.into_iter().map(trend_pb).collect(),
            repeat_customers: a.repeat_customers.into_iter().map(repeat_pb).collect(),
            repeat_vehicles: a.repeat_vehicles.into_iter().map(repeat_pb).collect(),
            sla: Some(pb::SlaCompliance {
                cases: s.cases,
                escalated: s.escalated,
                escalation_rate: share(s.escalated, s.cases),
                first_response_stopped: s.first_response_stopped,
                first_response_met: s.first_response_met,
                first_response_compliance: share(s.first_response_met, s.first_response_stopped),
                resolution_stopped: s.resolution_stopped,
                resolution_met: s.resolution_met,
                resolution_compliance: share(s.resolution_met, s.resolution_stopped),
                first_response_p50_seconds: s.first_response_p50,
                first_response_p90_seconds: s.first_response_p90,
                resolution_p50_seconds: s.resolution_p50,
                resolution_p90_seconds: s.resolution_p90,
            }),
            keywords: a
                .keywords
                .into_iter()
                .map(|(category, list)| pb::CategoryKeywords {
                    category,
                    keywords: list
                        .into_iter()
                        .map(|k| pb::KeywordScore {
                            term: k.term,
                            cases: k.cases,
                            score: k.score,
                        })
                        .collect(),
                })
                .collect(),
            hot_spots: a.hot_spots.into_iter().map(hot_spot_pb).collect(),
        }))
    }

    async fn list_hot_spots(
        &self,
        request: Request<pb::ListHotSpotsRequest>,
    ) -> Result<Response<pb::ListHotSpotsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let (from, to) = period(&mut v, r.period_from.as_ref(), r.period_to.as_ref());
        v.finish(())?;
        self.checkpoints.consistent(r.consistency.as_ref()).await?;
        Ok(Response::new(pb::ListHotSpotsResponse {
            hot_spots: analysis::hot_spots(&self.db, from, to)
                .await
                .map_err(query_status)?
                .into_iter()
                .map(hot_spot_pb)
                .collect(),
        }))
    }
}
