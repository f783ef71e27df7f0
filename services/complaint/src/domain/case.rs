//! One complaint case (客诉): what the customer said, through which channel, about which order,
//! car, violation, claim or charge; its severity by the service standard; who owns it; its
//! progress from opening through investigation and waits to a resolution and its closing (or a
//! reopening); and what its SLA clocks have raised. Pure rules: times, the taxonomy's verdict
//! and the SLA policies come in with the commands.

use std::collections::BTreeSet;
use std::sync::Arc;

use rentops_kernel::{Aggregate, Calendar, Fen};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::sla::{self, ClockKind, ClockRun, Policies, Span, Threshold};
use super::taxonomy::Standard;

/// Where a complaint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Channel {
    Hotline,
    App,
    MiniProgram,
    Web,
    Weibo,
    Douyin,
    Xiaohongshu,
    /// The market regulator's 12315 hotline and platform.
    Regulator12315,
    PartnerOta,
}

impl Channel {
    pub const ALL: [Channel; 9] = [
        Channel::Hotline,
        Channel::App,
        Channel::MiniProgram,
        Channel::Web,
        Channel::Weibo,
        Channel::Douyin,
        Channel::Xiaohongshu,
        Channel::Regulator12315,
        Channel::PartnerOta,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Channel::Hotline => "HOTLINE",
            Channel::App => "APP",
            Channel::MiniProgram => "MINI_PROGRAM",
            Channel::Web => "WEB",
            Channel::Weibo => "WEIBO",
            Channel::Douyin => "DOUYIN",
            Channel::Xiaohongshu => "XIAOHONGSHU",
            Channel::Regulator12315 => "REGULATOR_12315",
            Channel::PartnerOta => "PARTNER_OTA",
        }
    }

    /// The code, case-insensitively, `-` or `_` alike.
    pub fn parse(text: &str) -> Option<Channel> {
        let t = text.trim().to_ascii_uppercase().replace('-', "_");
        Channel::ALL.into_iter().find(|c| c.code() == t)
    }

    /// Social media: a complaint there is public.
    pub fn is_social_media(self) -> bool {
        matches!(self, Channel::Weibo | Channel::Douyin | Channel::Xiaohongshu)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    P1,
    P2,
    P3,
    P4,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::P1, Severity::P2, Severity::P3, Severity::P4];

    pub fn code(self) -> &'static str {
        match self {
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
            Severity::P4 => "P4",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        let t = text.trim().to_ascii_uppercase();
        Severity::ALL.into_iter().find(|s| s.code() == t)
    }

    pub fn index(self) -> usize {
        match self {
            Severity::P1 => 0,
            Severity::P2 => 1,
            Severity::P3 => 2,
            Severity::P4 => 3,
        }
    }
}

/// The service standard's severity: a complaint through the regulator (12315) or on social
/// media, or about safety, is P1; a billing dispute or a failed fulfilment P2; service quality
/// P3; anything else P4. With the reason, for the case's record.
pub fn severity_by_standard(channel: Channel, standard: Standard) -> (Severity, String) {
    if channel == Channel::Regulator12315 {
        return (Severity::P1, "through the regulator (12315)".into());
    }
    if channel.is_social_media() {
        return (Severity::P1, format!("on social media ({})", channel.code()));
    }
    let severity = match standard {
        Standard::Safety => Severity::P1,
        Standard::BillingDispute | Standard::FailedFulfilment => Severity::P2,
        Standard::ServiceQuality => Severity::P3,
        Standard::Other => Severity::P4,
    };
    (severity, standard.text().to_owned())
}

/// What a case is about. Empty strings are "not linked"; the API checks every link it is given
/// against what the service knows from the other services' events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    pub customer_id: String,
    pub order_id: String,
    pub vehicle_id: String,
    pub violation_id: String,
    pub claim_id: String,
    pub charge_booking_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    /// The case's id, in the event too: receivables reads it from the message.
    pub case_id: String,
    pub links: Links,
    pub channel: Channel,
    pub category: String,
    pub sub_category: String,
    pub severity: Severity,
    /// Why the standard gave this severity.
    pub severity_basis: String,
    /// The customer's words.
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    pub opened_by: String,
    /// What the analysis groups by, from the links when the case opened ('' when not linked).
    pub context: Context,
}

/// The linked order's city and sales channel and the car's model, as the service knew them
/// when the case opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub city: String,
    pub vehicle_model: String,
    pub order_channel: String,
}

/// What a resolution gives the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Remedy {
    /// Waive the case's violation or charge on the ledger: all that is open, or `amount`.
    Waive {
        customer_id: String,
        violation_id: String,
        charge_booking_id: String,
        amount: Option<Fen>,
    },
    Voucher(Fen),
    Refund(Fen),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitingOn {
    Customer,
    ThirdParty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseReason {
    CustomerAccepted,
    /// Nothing heard from the customer for the configured silence after the resolution.
    Silence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Opened, not yet investigated.
    Open,
    Investigating,
    Waiting(WaitingOn),
    Resolved,
    Closed,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::Open => "OPEN",
            Status::Investigating => "INVESTIGATING",
            Status::Waiting(WaitingOn::Customer) => "WAITING_ON_CUSTOMER",
            Status::Waiting(WaitingOn::ThirdParty) => "WAITING_ON_THIRD_PARTY",
            Status::Resolved => "RESOLVED",
            Status::Closed => "CLOSED",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [
            Status::Open,
            Status::Investigating,
            Status::Waiting(WaitingOn::Customer),
            Status::Waiting(WaitingOn::ThirdParty),
            Status::Resolved,
            Status::Closed,
        ]
        .into_iter()
        .find(|s| s.code() == text.trim().to_ascii_uppercase())
    }

    /// The case is still the desk's to work on (its clocks may run).
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::Investigating | Status::Waiting(_))
    }
}

/// A clock's threshold as raised: the policy's target, when the threshold was reached, and
/// when it was raised in the case's history (`at`) with what had been spent by then. `at` is
/// the time it was reached, or the case's latest change if that came later (a threshold
/// reached while the case was not yet entered, or before a scan ran): never before it, so the
/// history stays in time order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaMark {
    pub clock: ClockKind,
    pub policy: String,
    pub target: Duration,
    pub spent: Duration,
    #[serde(with = "time::serde::rfc3339")]
    pub reached_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

// The opening is the large variant, and each case has one: boxing it would cost an allocation
// per event decoded for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseEvent {
    Opened(Opened),
    SeverityOverridden {
        previous: Severity,
        severity: Severity,
        reason: String,
        by: String,
        at: OffsetDateTime,
    },
    Assigned {
        agent: String,
        by: String,
        at: OffsetDateTime,
    },
    FirstResponseRecorded {
        note: String,
        by: String,
        at: OffsetDateTime,
    },
    InvestigationStarted {
        by: String,
        at: OffsetDateTime,
    },
    WaitingStarted {
        on: WaitingOn,
        reason: String,
        by: String,
        at: OffsetDateTime,
    },
    Resumed {
        by: String,
        at: OffsetDateTime,
    },
    RootCauseSet {
        root_cause: String,
        note: String,
        by: String,
        at: OffsetDateTime,
    },
    // The three below and `Opened` carry the case id: they are the contract receivables reads
    // from the message alone.
    Resolved {
        case_id: String,
        explanation: String,
        remedies: Vec<Remedy>,
        by: String,
        at: OffsetDateTime,
    },
    Closed {
        case_id: String,
        reason: CloseReason,
        by: String,
        at: OffsetDateTime,
    },
    Reopened {
        case_id: String,
        reason: String,
        by: String,
        at: OffsetDateTime,
    },
    SlaAtRisk(SlaMark),
    SlaBreached(SlaMark),
    Escalated {
        clock: ClockKind,
        to: String,
        reason: String,
        at: OffsetDateTime,
    },
}

impl CaseEvent {
    pub fn at(&self) -> OffsetDateTime {
        match self {
            CaseEvent::Opened(o) => o.opened_at,
            CaseEvent::SlaAtRisk(m) | CaseEvent::SlaBreached(m) => m.at,
            CaseEvent::SeverityOverridden { at, .. }
            | CaseEvent::Assigned { at, .. }
            | CaseEvent::FirstResponseRecorded { at, .. }
            | CaseEvent::InvestigationStarted { at, .. }
            | CaseEvent::WaitingStarted { at, .. }
            | CaseEvent::Resumed { at, .. }
            | CaseEvent::RootCauseSet { at, .. }
            | CaseEvent::Resolved { at, .. }
            | CaseEvent::Closed { at, .. }
            | CaseEvent::Reopened { at, .. }
            | CaseEvent::Escalated { at, .. } => *at,
        }
    }
}

/// The latest resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub explanation: String,
    pub remedies: Vec<Remedy>,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub opened: Option<Opened>,
    pub severity: Severity,
    pub status: Status,
    pub agent: Option<String>,
    /// Investigation started at least once (a reopened case goes back to it).
    pub investigated: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_response_at: Option<OffsetDateTime>,
    pub root_cause: Option<String>,
    pub resolution: Option<Resolution>,
    /// When the case was first resolved (the first-response clock stops there at the latest).
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_resolved_at: Option<OffsetDateTime>,
    pub closed: Option<(CloseReason, String)>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    pub reopened: u32,
    /// The stretches of time the case was active and not waiting: the resolution clock's
    /// running time (the first response clock's, up to the first response).
    pub spans: Vec<Span>,
    /// The thresholds raised so far, each once in the case's life.
    pub raised: BTreeSet<(ClockKind, Threshold)>,
    pub escalated: BTreeSet<ClockKind>,
    /// The time of the case's latest change (its opening, or any event since, the scan's
    /// included): no command may be dated before it, so the history (and the SLA spans built
    /// from its times) stays in time order. Unset in a state stored before it was kept.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub latest_at: Option<OffsetDateTime>,
}

impl Default for Case {
    fn default() -> Self {
        Self {
            opened: None,
            severity: Severity::P4,
            status: Status::Open,
            agent: None,
            investigated: false,
            first_response_at: None,
            root_cause: None,
            resolution: None,
            first_resolved_at: None,
            closed: None,
            closed_at: None,
            reopened: 0,
            spans: Vec::new(),
            raised: BTreeSet::new(),
            escalated: BTreeSet::new(),
            latest_at: None,
        }
    }
}

/// What is due on a case: a clock's threshold, or the closing after the silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Sla(ClockKind, Threshold),
    AutoClose,
}

impl Case {
    /// The case's id (empty before it is opened).
    pub fn id(&self) -> &str {
        self.opened.as_ref().map_or("", |o| o.case_id.as_str())
    }

    /// The clock's running time and whether it has stopped for good.
    pub fn run(&self, clock: ClockKind) -> ClockRun {
        match clock {
            ClockKind::Resolution => ClockRun {
                spans: self.spans.clone(),
                stopped: !self.status.is_active(),
            },
            ClockKind::FirstResponse => {
                // A resolution answers the customer too.
                let stop = match (self.first_response_at, self.first_resolved_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let spans = match stop {
                    None => self.spans.clone(),
                    Some(stop) => self
                        .spans
                        .iter()
                        .filter(|s| s.start < stop)
                        .map(|s| Span {
                            start: s.start,
                            end: Some(s.end.map_or(stop, |e| e.min(stop))),
                        })
                        .collect(),
                };
                ClockRun {
                    spans,
                    stopped: stop.is_some(),
                }
            }
        }
    }

    /// The SLA policy that applies to the case now.
    pub fn policy<'p>(&self, policies: &'p Policies) -> Option<&'p sla::Policy> {
        let o = self.opened.as_ref()?;
        Some(policies.for_case(self.severity, o.channel, &o.category))
    }

    /// What falls due next on the case and when, for the scan's due index: each threshold not
    /// yet raised of a clock that runs, and the closing `silence` after a resolution. `None`
    /// when nothing can fall due until something happens to the case.
    pub fn next_due(
        &self,
        policies: &Policies,
        calendar: &Calendar,
        silence: Duration,
    ) -> Result<Option<(OffsetDateTime, Due)>, rentops_kernel::CalendarError> {
        let mut best: Option<(OffsetDateTime, Due)> = None;
        let mut consider = |at: OffsetDateTime, due: Due| {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, due));
            }
        };
        if self.status == Status::Resolved
            && let Some(r) = &self.resolution
        {
            consider(r.at + silence, Due::AutoClose);
        }
        let Some(policy) = self.policy(policies) else {
            return Ok(None);
        };
        for clock in ClockKind::ALL {
            let run = self.run(clock);
            // A clock standing still reaches nothing more, but a threshold it reached before
            // the wait, or before it stopped, and that was not raised yet is due at once.
            for &threshold in run.thresholds() {
                if self.raised.contains(&(clock, threshold)) {
                    continue;
                }
                let amount = policies.threshold(policy, clock, threshold);
                if let Some(at) = sla::reached_at(&policy.hours, calendar, &run.spans, amount)? {
                    consider(at, Due::Sla(clock, threshold));
                }
            }
        }
        Ok(best)
    }

    /// Everything due on the case at `now`, earliest first.
    pub fn due_at(
        &self,
        policies: &Policies,
        calendar: &Calendar,
        silence: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<Due>, rentops_kernel::CalendarError> {
        let mut out = Vec::new();
        if self.status == Status::Resolved
            && let Some(r) = &self.resolution
            && r.at + silence <= now
        {
            out.push((r.at + silence, Due::AutoClose));
        }
        if let Some(policy) = self.policy(policies) {
            for clock in ClockKind::ALL {
                let run = self.run(clock);
                for &threshold in run.thresholds() {
                    if self.raised.contains(&(clock, threshold)) {
                        continue;
                    }
                    let amount = policies.threshold(policy, clock, threshold);
                    if let Some(at) = sla::reached_at(&policy.hours, calendar, &run.spans, amount)?
                        && at <= now
                    {
                        out.push((at, Due::Sla(clock, threshold)));
                    }
                }
            }
        }
        out.sort_by_key(|(at, _)| *at);
        Ok(out.into_iter().map(|(_, d)| d).collect())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("case not found")]
    NotFound,
    #[error("the case was opened already")]
    AlreadyOpened,
    #[error("the case is closed: reopen it first")]
    Closed,
    #[error("the case is resolved: reopen it first")]
    Resolved,
    #[error("the case is not resolved")]
    NotResolved,
    #[error("the case is not waiting")]
    NotWaiting,
    #[error("the case is waiting on {0}: resume it first")]
    Waiting(&'static str),
    #[error("the case has no agent: assign it first")]
    NotAssigned,
    #[error("the first response was recorded already, at {0}")]
    FirstResponseRecorded(OffsetDateTime),
    #[error("the case is being investigated already")]
    AlreadyInvestigating,
    #[error("the severity is {0} already")]
    SameSeverity(&'static str),
    #[error("the case was resolved at {resolved_at}; it closes by silence at {due}, not before")]
    NotSilentYet {
        resolved_at: OffsetDateTime,
        due: OffsetDateTime,
    },
    #[error("the {clock} clock has not reached {threshold}")]
    NotReached {
        clock: &'static str,
        threshold: &'static str,
    },
    #[error("the {0} clock has stopped")]
    ClockStopped(&'static str),
    #[error("the working-day calendar cannot count this case's business hours: {0}")]
    Calendar(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A command dated before the case's latest change: the history stays in time order.
    #[error("at: {at} is before the case's latest change, at {latest}; a case's history stays in time order")]
    BeforeLatestChange { at: OffsetDateTime, latest: OffsetDateTime },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> CaseError {
    CaseError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

// As for the events: one opening per case.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum CaseCommand {
    Open(Opened),
    OverrideSeverity {
        severity: Severity,
        reason: String,
        by: String,
        at: OffsetDateTime,
    },
    Assign {
        agent: String,
        by: String,
        at: OffsetDateTime,
    },
    RecordFirstResponse {
        note: String,
        by: String,
        at: OffsetDateTime,
    },
    StartInvestigation {
        by: String,
        at: OffsetDateTime,
    },
    Wait {
        on: WaitingOn,
        reason: String,
        by: String,
        at: OffsetDateTime,
    },
    Resume {
        by: String,
        at: OffsetDateTime,
    },
    SetRootCause {
        root_cause: String,
        note: String,
        by: String,
        at: OffsetDateTime,
    },
    Resolve {
        explanation: String,
        remedies: Vec<Remedy>,
        by: String,
        at: OffsetDateTime,
    },
    /// The customer accepts the resolution.
    Close {
        by: String,
        at: OffsetDateTime,
    },
    /// The scan: nothing heard for `silence` since the resolution.
    AutoClose {
        silence: Duration,
        at: OffsetDateTime,
    },
    Reopen {
        reason: String,
        by: String,
        at: OffsetDateTime,
    },
    /// The scan: `clock` reached `threshold` by `at` under the policies (a breach escalates to
    /// a supervisor). Raised once in a case's life: a repeat changes nothing.
    RaiseSla {
        clock: ClockKind,
        threshold: Threshold,
        policies: Arc<Policies>,
        calendar: Arc<Calendar>,
        at: OffsetDateTime,
    },
}

pub struct CaseAggregate;

impl Aggregate for CaseAggregate {
    const TYPE: &'static str = "case";
    type State = Case;
    type Command = CaseCommand;
    type Event = CaseEvent;
    type Error = CaseError;

    fn decide(state: &Case, command: &CaseCommand) -> Result<Vec<CaseEvent>, CaseError> {
        decide(state, command)
    }

    fn evolve(state: Case, event: &CaseEvent) -> Case {
        evolve(state, event)
    }
}

fn waiting_text(on: WaitingOn) -> &'static str {
    match on {
        WaitingOn::Customer => "the customer",
        WaitingOn::ThirdParty => "a third party",
    }
}

/// The case must be one the desk still works on.
fn active(state: &Case) -> Result<(), CaseError> {
    match state.status {
        Status::Closed => Err(CaseError::Closed),
        Status::Resolved => Err(CaseError::Resolved),
        _ => Ok(()),
    }
}

fn required(field: &str, text: &str) -> Result<(), CaseError> {
    if text.trim().is_empty() {
        return Err(invalid(field, "required"));
    }
    Ok(())
}

impl CaseCommand {
    /// When a person says the command's change happened; `None` for the opening (nothing is
    /// before it) and for the scan's commands (they date their events themselves, never before
    /// the case's latest change).
    pub fn dated(&self) -> Option<OffsetDateTime> {
        match self {
            CaseCommand::Open(_) | CaseCommand::AutoClose { .. } | CaseCommand::RaiseSla { .. } => None,
            CaseCommand::OverrideSeverity { at, .. }
            | CaseCommand::Assign { at, .. }
            | CaseCommand::RecordFirstResponse { at, .. }
            | CaseCommand::StartInvestigation { at, .. }
            | CaseCommand::Wait { at, .. }
            | CaseCommand::Resume { at, .. }
            | CaseCommand::SetRootCause { at, .. }
            | CaseCommand::Resolve { at, .. }
            | CaseCommand::Close { at, .. }
            | CaseCommand::Reopen { at, .. } => Some(*at),
        }
    }
}

/// Decides `command` on `state`. A change dated before the case's latest change is refused
/// (once the command is otherwise acceptable: a command that changes nothing stays a no-op):
/// the SLA spans are built from the events' times, so the history must stay in time order.
pub fn decide(state: &Case, command: &CaseCommand) -> Result<Vec<CaseEvent>, CaseError> {
    let events = decide_in_order(state, command)?;
    if let (Some(at), Some(latest)) = (command.dated(), state.latest_at)
        && !events.is_empty()
        && at < latest
    {
        return Err(CaseError::BeforeLatestChange { at, latest });
    }
    Ok(events)
}

fn decide_in_order(state: &Case, command: &CaseCommand) -> Result<Vec<CaseEvent>, CaseError> {
    if let CaseCommand::Open(o) = command {
        if state.opened.is_some() {
            return Err(CaseError::AlreadyOpened);
        }
        required("customer_id", &o.links.customer_id)?;
        required("text", &o.text)?;
        return Ok(vec![CaseEvent::Opened(o.clone())]);
    }
    if state.opened.is_none() {
        return Err(CaseError::NotFound);
    }
    match command {
        CaseCommand::Open(_) => Err(CaseError::AlreadyOpened),
        CaseCommand::OverrideSeverity {
            severity,
            reason,
            by,
            at,
        } => {
            if state.status == Status::Closed {
                return Err(CaseError::Closed);
            }
            required("reason", reason)?;
            if *severity == state.severity {
                return Err(CaseError::SameSeverity(severity.code()));
            }
            Ok(vec![CaseEvent::SeverityOverridden {
                previous: state.severity,
                severity: *severity,
                reason: reason.clone(),
                by: by.clone(),
                at: *at,
            }])
        }
        CaseCommand::Assign { agent, by, at } => {
            if state.status == Status::Closed {
                return Err(CaseError::Closed);
            }
            required("agent", agent)?;
            if state.agent.as_deref() == Some(agent.as_str()) {
                return Ok(Vec::new());
            }
            Ok(vec![CaseEvent::Assigned {
                agent: agent.clone(),
                by: by.clone(),
                at: *at,
            }])
        }
        CaseCommand::RecordFirstResponse { note, by, at } => {
            active(state)?;
            if let Some(t) = state.first_response_at {
                return Err(CaseError::FirstResponseRecorded(t));
            }
            required("note", note)?;
            Ok(vec![CaseEvent::FirstResponseRecorded {
                note: note.clone(),
                by: by.clone(),
                at: *at,
            }])
        }
        CaseCommand::StartInvestigation { by, at } => {
            active(state)?;
            match state.status {
                Status::Investigating => Err(CaseError::AlreadyInvestigating),
                Status::Waiting(on) => Err(CaseError::Waiting(waiting_text(on))),
                _ if state.agent.is_none() => Err(CaseError::NotAssigned),
                _ => Ok(vec![CaseEvent::InvestigationStarted {
                    by: by.clone(),
                    at: *at,
                }]),
            }
        }
        CaseCommand::Wait { on, reason, by, at } => {
            active(state)?;
            if let Status::Waiting(current) = state.status {
                return Err(CaseError::Waiting(waiting_text(current)));
            }
            required("reason", reason)?;
            Ok(vec![CaseEvent::WaitingStarted {
                on: *on,
                reason: reason.clone(),
                by: by.clone(),
                at: *at,
            }])
        }
        CaseCommand::Resume { by, at } => {
            active(state)?;
            if !matches!(state.status, Status::Waiting(_)) {
                return Err(CaseError::NotWaiting);
            }
            Ok(vec![CaseEvent::Resumed {
                by: by.clone(),
                at: *at,
            }])
        }
        CaseCommand::SetRootCause {
            root_cause,
            note,
            by,
            at,
        } => {
            if state.status == Status::Closed {
                return Err(CaseError::Closed);
            }
            required("root_cause", root_cause)?;
            if state.root_cause.as_deref() == Some(root_cause.as_str()) {
                return Ok(Vec::new());
            }
            Ok(vec![CaseEvent::RootCauseSet {
                root_cause: root_cause.clone(),
                note: note.clone(),
                by: by.clone(),
                at: *at,
            }])
        }
        CaseCommand::Resolve {
            explanation,
            remedies,
            by,
            at,
        } => {
            active(state)?;
            required("explanation", explanation)?;
            let links = state.opened.as_ref().map(|o| &o.links).ok_or(CaseError::NotFound)?;
            for (i, r) in remedies.iter().enumerate() {
                check_remedy(i, r, links)?;
            }
            Ok(vec![CaseEvent::Resolved {
                case_id: state.id().to_owned(),
                explanation: explanation.clone(),
                remedies: remedies.clone(),
                by: by.clone(),
                at: *at,
            }])
        }
        CaseCommand::Close { by, at } => match state.status {
            Status::Closed => Err(CaseError::Closed),
            Status::Resolved => Ok(vec![CaseEvent::Closed {
                case_id: state.id().to_owned(),
                reason: CloseReason::CustomerAccepted,
                by: by.clone(),
                at: *at,
            }]),
            _ => Err(CaseError::NotResolved),
        },
        CaseCommand::AutoClose { silence, at } => {
            // Closed already (by the customer, or by another replica's scan): nothing to do.
            if state.status == Status::Closed {
                return Ok(Vec::new());
            }
            let Some(r) = state.resolution.as_ref().filter(|_| state.status == Status::Resolved) else {
                return Err(CaseError::NotResolved);
            };
            let due = r.at + *silence;
            if due > *at {
                return Err(CaseError::NotSilentYet { resolved_at: r.at, due });
            }
            // Closed when the silence ran out, as it would have been had the scan seen it then
            // (a resolution entered late), never before the case's latest change.
            Ok(vec![CaseEvent::Closed {
                case_id: state.id().to_owned(),
                reason: CloseReason::Silence,
                by: "system:auto-close".into(),
                at: in_order(state, due),
            }])
        }
        CaseCommand::Reopen { reason, by, at } => {
            if state.status.is_active() {
                return Err(CaseError::NotResolved);
            }
            required("reason", reason)?;
            Ok(vec![CaseEvent::Reopened {
                case_id: state.id().to_owned(),
                reason: reason.clone(),
                by: by.clone(),
                at: *at,
            }])
        }
        CaseCommand::RaiseSla {
            clock,
            threshold,
            policies,
            calendar,
            at,
        } => raise(state, *clock, *threshold, policies, calendar, *at),
    }
}

/// A waiver must be of what the case is about: its customer, and its violation or charge.
fn check_remedy(i: usize, r: &Remedy, links: &Links) -> Result<(), CaseError> {
    let field = |name: &str| format!("remedies[{i}].{name}");
    match r {
        Remedy::Voucher(f) | Remedy::Refund(f) if *f <= Fen::ZERO => {
            Err(invalid(field("amount"), "must be more than zero"))
        }
        Remedy::Voucher(_) | Remedy::Refund(_) => Ok(()),
        Remedy::Waive {
            customer_id,
            violation_id,
            charge_booking_id,
            amount,
        } => {
            if customer_id != &links.customer_id {
                return Err(invalid(field("waive.customer_id"), "not the case's customer"));
            }
            if violation_id.is_empty() && charge_booking_id.is_empty() {
                return Err(invalid(
                    field("waive"),
                    "names the case's violation_id or charge_booking_id",
                ));
            }
            if !violation_id.is_empty() && violation_id != &links.violation_id {
                return Err(invalid(field("waive.violation_id"), "not the case's violation"));
            }
            if !charge_booking_id.is_empty() && charge_booking_id != &links.charge_booking_id {
                return Err(invalid(field("waive.charge_booking_id"), "not the case's charge"));
            }
            if amount.is_some_and(|a| a <= Fen::ZERO) {
                return Err(invalid(field("waive.amount"), "must be more than zero when given"));
            }
            Ok(())
        }
    }
}

fn raise(
    state: &Case,
    clock: ClockKind,
    threshold: Threshold,
    policies: &Policies,
    calendar: &Calendar,
    at: OffsetDateTime,
) -> Result<Vec<CaseEvent>, CaseError> {
    if state.raised.contains(&(clock, threshold)) {
        return Ok(Vec::new());
    }
    let run = state.run(clock);
    if !run.thresholds().contains(&threshold) {
        return Err(CaseError::ClockStopped(clock.code()));
    }
    let policy = state.policy(policies).ok_or(CaseError::NotFound)?;
    let amount = policies.threshold(policy, clock, threshold);
    let calendar_error = |e: rentops_kernel::CalendarError| CaseError::Calendar(e.to_string());
    let reached = sla::reached_at(&policy.hours, calendar, &run.spans, amount).map_err(calendar_error)?;
    if run.stopped && reached.is_none() {
        // Met: it stopped before its target.
        return Err(CaseError::ClockStopped(clock.code()));
    }
    let Some(reached_at) = reached.filter(|r| *r <= at) else {
        return Err(CaseError::NotReached {
            clock: clock.code(),
            threshold: threshold.code(),
        });
    };
    // Raised when it was reached, as it would have been had the scan seen it then (a case
    // entered late reaches its thresholds in the past), but never before the case's latest
    // change: the history stays in time order.
    let at = in_order(state, reached_at);
    let spent = sla::spent(&policy.hours, calendar, &run.spans, at).map_err(calendar_error)?;
    let mark = SlaMark {
        clock,
        policy: policy.name.clone(),
        target: policy.target(clock),
        spent,
        reached_at,
        at,
    };
    Ok(match threshold {
        Threshold::AtRisk => vec![CaseEvent::SlaAtRisk(mark)],
        Threshold::Breached => {
            let mut events = vec![CaseEvent::SlaBreached(mark)];
            // A clock that stopped late (answered or resolved after its target, before a scan
            // noticed) is breached all the same; there is nobody to escalate to any more.
            if !run.stopped && !state.escalated.contains(&clock) {
                events.push(CaseEvent::Escalated {
                    clock,
                    to: "supervisor".into(),
                    reason: format!(
                        "the {} clock passed its target of {} ({})",
                        clock.code().replace('_', " "),
                        policy.target(clock),
                        policy.name
                    ),
                    at,
                });
            }
            events
        }
    })
}

/// `at`, or the case's latest change if that is later.
fn in_order(state: &Case, at: OffsetDateTime) -> OffsetDateTime {
    state.latest_at.map_or(at, |latest| latest.max(at))
}

/// Closes the running span at `at`.
fn stop(spans: &mut [Span], at: OffsetDateTime) {
    if let Some(last) = spans.last_mut()
        && last.end.is_none()
    {
        last.end = Some(at.max(last.start));
    }
}

fn start(spans: &mut Vec<Span>, at: OffsetDateTime) {
    if spans.last().is_none_or(|s| s.end.is_some()) {
        spans.push(Span { start: at, end: None });
    }
}

pub fn evolve(mut state: Case, event: &CaseEvent) -> Case {
    let at = event.at();
    state.latest_at = Some(state.latest_at.map_or(at, |latest| latest.max(at)));
    match event {
        CaseEvent::Opened(o) => {
            state.severity = o.severity;
            state.status = Status::Open;
            state.spans = vec![Span {
                start: o.opened_at,
                end: None,
            }];
            state.opened = Some(o.clone());
        }
        CaseEvent::SeverityOverridden { severity, .. } => state.severity = *severity,
        CaseEvent::Assigned { agent, .. } => state.agent = Some(agent.clone()),
        CaseEvent::FirstResponseRecorded { at, .. } => state.first_response_at = Some(*at),
        CaseEvent::InvestigationStarted { .. } => {
            state.status = Status::Investigating;
            state.investigated = true;
        }
        CaseEvent::WaitingStarted { on, at, .. } => {
            state.status = Status::Waiting(*on);
            stop(&mut state.spans, *at);
        }
        CaseEvent::Resumed { at, .. } => {
            state.status = if state.investigated {
                Status::Investigating
            } else {
                Status::Open
            };
            start(&mut state.spans, *at);
        }
        CaseEvent::RootCauseSet { root_cause, .. } => state.root_cause = Some(root_cause.clone()),
        CaseEvent::Resolved {
            explanation,
            remedies,
            by,
            at,
            ..
        } => {
            state.status = Status::Resolved;
            stop(&mut state.spans, *at);
            state.first_resolved_at.get_or_insert(*at);
            state.resolution = Some(Resolution {
                explanation: explanation.clone(),
                remedies: remedies.clone(),
                by: by.clone(),
                at: *at,
            });
        }
        CaseEvent::Closed { reason, by, at, .. } => {
            state.status = Status::Closed;
            stop(&mut state.spans, *at);
            state.closed = Some((*reason, by.clone()));
            state.closed_at = Some(*at);
        }
        CaseEvent::Reopened { at, .. } => {
            state.status = if state.investigated {
                Status::Investigating
            } else {
                Status::Open
            };
            state.reopened += 1;
            state.closed = None;
            state.closed_at = None;
            start(&mut state.spans, *at);
        }
        CaseEvent::SlaAtRisk(m) => {
            state.raised.insert((m.clock, Threshold::AtRisk));
        }
        CaseEvent::SlaBreached(m) => {
            state.raised.insert((m.clock, Threshold::Breached));
        }
        CaseEvent::Escalated { clock, .. } => {
            state.escalated.insert(*clock);
        }
    }
    state
}
