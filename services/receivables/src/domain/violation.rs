//! One traffic violation (违章): the record as the authority gave it, whose it is, and where its
//! dunning ladder stands. Pure rules: times, matches and booking ids come in with the commands.

use rentops_kernel::{Aggregate, Fen, Plate};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;

use super::ladder::{Ladder, Step};

/// The record as a feed gives it, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub plate: Plate,
    pub plate_kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub offence_at: OffsetDateTime,
    pub place: String,
    pub offence_code: String,
    pub offence_text: String,
    pub fine: Fen,
    pub points: u32,
    pub authority_ref: String,
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub handled: bool,
}

impl Record {
    /// The violation's id: the same for every copy of the record. The authority's record
    /// number when there is one; else plate, minute, place and offence code, each normalised
    /// (the plate by the kernel's one rule, the place without its spacing).
    pub fn violation_id(&self) -> String {
        let identity = if self.authority_ref.trim().is_empty() {
            let place: String = self.place.split_whitespace().collect();
            format!(
                "key|{}|{}|{}|{}",
                self.plate.key(),
                self.offence_at.unix_timestamp() / 60,
                place,
                self.offence_code.trim().to_ascii_uppercase()
            )
        } else {
            format!("ref|{}", self.authority_ref.trim().to_ascii_uppercase())
        };
        let digest = sha2::Sha256::digest(identity.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("v{hex}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Responsibility {
    Renter,
    Driver,
    Staff,
    Company,
}

/// Whose the violation is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    pub responsibility: Responsibility,
    pub order_id: String,
    pub customer_id: String,
    pub customer_phone: String,
    pub city: String,
    pub vehicle_id: String,
    /// The driver or staff member, for their moves.
    pub person_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub matched_at: OffsetDateTime,
    /// Empty for the automatic match; the person who resolved an exception.
    pub resolved_by: String,
    pub reason: String,
}

impl Match {
    /// The same answer (who, for which hire), whenever and by whom it was given.
    pub fn same_party(&self, other: &Match) -> bool {
        self.responsibility == other.responsibility
            && self.order_id == other.order_id
            && self.customer_id == other.customer_id
            && self.person_id == other.person_id
            && self.vehicle_id == other.vehicle_id
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnmatchedReason {
    /// No car carried the plate then.
    UnknownPlate,
    /// A car carried it, but no hire and no move had it.
    NoHire,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmatched {
    pub reason: UnmatchedReason,
    pub vehicle_id: String,
    pub detail: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoticeChannel {
    Sms,
    AppPush,
    DeskCall,
}

/// A message a step sends, for the notification gateway (or the desk's call list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub channel: NoticeChannel,
    pub customer_id: String,
    pub phone: String,
    pub template: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTaken {
    pub step: Step,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
    pub notices: Vec<Notice>,
    /// The notice: handle it by then.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deadline: Option<OffsetDateTime>,
    /// The charge: its booking on the renter's ledger, and the amount.
    pub charge_booking_id: String,
    pub charged: Fen,
    /// The charge: the renter may contest the points transfer until then.
    #[serde(with = "time::serde::rfc3339::option")]
    pub points_appeal_until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationEvent {
    Recorded {
        id: String,
        record: Record,
    },
    Matched(Match),
    Unmatched(Unmatched),
    Voided {
        by: String,
        reason: String,
        at: OffsetDateTime,
    },
    Handled {
        at: OffsetDateTime,
        source: String,
    },
    StepTaken(StepTaken),
    Disputed {
        case_id: String,
        at: OffsetDateTime,
    },
    DisputeEnded {
        case_id: String,
        at: OffsetDateTime,
    },
    Waived {
        case_id: String,
        at: OffsetDateTime,
        by: String,
    },
}

/// Where a violation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// In the exceptions queue (not matched, or not yet).
    Exception,
    /// A renter's: the ladder runs.
    Open,
    Charged,
    Collections,
    Handled,
    Voided,
    /// A driver's, a staff member's or the company's own: no ladder.
    Company,
    /// Waived by a complaint's resolution before it was charged.
    Waived,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::Exception => "EXCEPTION",
            Status::Open => "OPEN",
            Status::Charged => "CHARGED",
            Status::Collections => "COLLECTIONS",
            Status::Handled => "HANDLED",
            Status::Voided => "VOIDED",
            Status::Company => "COMPANY",
            Status::Waived => "WAIVED",
        }
    }

    pub fn parse(code: &str) -> Option<Status> {
        [
            Status::Exception,
            Status::Open,
            Status::Charged,
            Status::Collections,
            Status::Handled,
            Status::Voided,
            Status::Company,
            Status::Waived,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub id: String,
    pub record: Option<Record>,
    pub matched: Option<Match>,
    pub unmatched: Option<Unmatched>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub handled_at: Option<OffsetDateTime>,
    pub voided: bool,
    /// The steps taken since the current match, in order.
    pub steps: Vec<StepTaken>,
    /// The complaint cases about it still open: while there is one the ladder stands still.
    #[serde(default)]
    pub disputes: std::collections::BTreeSet<String>,
    /// Since when it stands still.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub paused_since: Option<OffsetDateTime>,
    /// How long it has stood still in all, in seconds: the ladder's days come that much later.
    #[serde(default)]
    pub paused_seconds: i64,
    #[serde(default)]
    pub waived: bool,
}

impl Violation {
    pub fn status(&self) -> Status {
        if self.voided {
            return Status::Voided;
        }
        if self.handled_at.is_some() {
            return Status::Handled;
        }
        if self.waived {
            return Status::Waived;
        }
        match &self.matched {
            None => Status::Exception,
            Some(m) if m.responsibility != Responsibility::Renter => Status::Company,
            Some(_) => {
                if self.taken(Step::Collections) {
                    Status::Collections
                } else if self.taken(Step::Charge) {
                    Status::Charged
                } else {
                    Status::Open
                }
            }
        }
    }

    pub fn taken(&self, step: Step) -> bool {
        self.steps.iter().any(|s| s.step == step)
    }

    /// When the notice fell due (at the match): day 0 of the ladder. A notice taken late (a
    /// scan that stood still, a backlog of feeds entered after the fact) moves no later step:
    /// every step due by now is taken, in order.
    pub fn notice_at(&self) -> Option<OffsetDateTime> {
        self.steps.iter().find(|s| s.step == Step::Notice).map(|s| s.due_at)
    }

    /// The ladder's next step and when it falls due, while the ladder runs.
    pub fn next_step(&self, ladder: &Ladder) -> Option<(Step, OffsetDateTime)> {
        if (self.status() != Status::Open && self.status() != Status::Charged) || !self.disputes.is_empty() {
            return None;
        }
        let matched = self.matched.as_ref()?;
        let next = ladder.steps().iter().find(|(step, _)| !self.taken(*step)).copied()?;
        let due = match self.notice_at() {
            // The notice is due at once on the match (the domain allows 24 h).
            None => matched.matched_at,
            Some(notice) => {
                notice + time::Duration::days(i64::from(next.1)) + time::Duration::seconds(self.paused_seconds)
            }
        };
        Some((next.0, due))
    }

    pub fn charge_booking_id(&self) -> Option<&str> {
        self.steps
            .iter()
            .find(|s| s.step == Step::Charge)
            .map(|s| s.charge_booking_id.as_str())
    }

    pub fn deadline(&self) -> Option<OffsetDateTime> {
        self.steps.iter().find_map(|s| s.deadline)
    }

    /// A match may still change: nothing charged yet, not closed, not a person's decision.
    pub fn is_rematchable(&self) -> bool {
        !self.voided
            && !self.waived
            && self.handled_at.is_none()
            && !self.taken(Step::Charge)
            && self.matched.as_ref().is_none_or(|m| m.resolved_by.is_empty())
    }
}

/// How a person resolved an exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The company bears it, or a staff member's (`person_id`), or a renter's hire (`Match`).
    Assign(Box<Match>),
    BadData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationCommand {
    /// A copy of the record arrived (the first one, or a repeat).
    Record { record: Box<Record> },
    /// The automatic answer to "who had the car", first or again after a late event.
    AutoMatch { outcome: Result<Match, Unmatched> },
    /// A person decides an exception.
    Resolve {
        resolution: Resolution,
        by: String,
        reason: String,
        at: OffsetDateTime,
    },
    /// Takes `step` of the ladder at `now`, if it is the next and due. `charge` comes with the
    /// charge step (its booking, already made on the ledger, and the amount); `appeal_until`
    /// with it too.
    TakeStep {
        step: Step,
        now: OffsetDateTime,
        ladder: Ladder,
        charge: Option<(String, Fen)>,
        appeal_until: Option<OffsetDateTime>,
    },
    /// A complaint case about it was opened (or reopened).
    Dispute { case_id: String, at: OffsetDateTime },
    /// The case was resolved or closed.
    EndDispute { case_id: String, at: OffsetDateTime },
    /// A case's resolution waives it: before the charge it is closed; after, the waiver is the
    /// ledger's and this records nothing.
    Waive {
        case_id: String,
        at: OffsetDateTime,
        by: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViolationError {
    #[error("violation not found")]
    NotFound,
    #[error("violation {0} already holds another record")]
    Collision(String),
    #[error("the violation is {status}, not in the exceptions queue")]
    NotAnException { status: &'static str },
    #[error("step {step:?} is not the ladder's next step (the violation is {status})")]
    NotNext { step: Step, status: &'static str },
    #[error("step {step:?} falls due at {due}, not yet")]
    NotDue { step: Step, due: OffsetDateTime },
    #[error("the charge step needs its ledger booking")]
    ChargeWithoutBooking,
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
}

pub struct ViolationAggregate;

impl Aggregate for ViolationAggregate {
    const TYPE: &'static str = "violation";
    type State = Violation;
    type Command = ViolationCommand;
    type Event = ViolationEvent;
    type Error = ViolationError;

    fn decide(state: &Violation, command: &ViolationCommand) -> Result<Vec<ViolationEvent>, ViolationError> {
        decide(state, command)
    }

    fn evolve(state: Violation, event: &ViolationEvent) -> Violation {
        evolve(state, event)
    }
}

pub fn decide(state: &Violation, command: &ViolationCommand) -> Result<Vec<ViolationEvent>, ViolationError> {
    if state.record.is_none() && !matches!(command, ViolationCommand::Record { .. }) {
        return Err(ViolationError::NotFound);
    }
    match command {
        ViolationCommand::Record { record } => {
            let id = record.violation_id();
            let Some(known) = &state.record else {
                let mut events = vec![ViolationEvent::Recorded {
                    id,
                    record: record.as_ref().clone(),
                }];
                if record.handled {
                    events.push(ViolationEvent::Handled {
                        at: record.received_at,
                        source: record.source.clone(),
                    });
                }
                return Ok(events);
            };
            if state.id != id || known.plate.key() != record.plate.key() {
                return Err(ViolationError::Collision(state.id.clone()));
            }
            // A copy: it changes nothing, unless it says the violation has been handled since.
            if record.handled && state.handled_at.is_none() && !state.voided {
                return Ok(vec![ViolationEvent::Handled {
                    at: record.received_at,
                    source: record.source.clone(),
                }]);
            }
            Ok(Vec::new())
        }
        ViolationCommand::AutoMatch { outcome } => {
            if !state.is_rematchable() {
                return Ok(Vec::new());
            }
            match outcome {
                Ok(m) => {
                    if state.matched.as_ref().is_some_and(|known| known.same_party(m)) {
                        return Ok(Vec::new());
                    }
                    Ok(vec![ViolationEvent::Matched(m.clone())])
                }
                Err(u) => {
                    let same = state.matched.is_none()
                        && state
                            .unmatched
                            .as_ref()
                            .is_some_and(|known| known.reason == u.reason && known.vehicle_id == u.vehicle_id);
                    if same {
                        return Ok(Vec::new());
                    }
                    Ok(vec![ViolationEvent::Unmatched(u.clone())])
                }
            }
        }
        ViolationCommand::Resolve {
            resolution,
            by,
            reason,
            at,
        } => {
            let status = state.status();
            if status != Status::Exception {
                return Err(ViolationError::NotAnException { status: status.code() });
            }
            if reason.trim().is_empty() {
                return Err(ViolationError::Invalid {
                    field: "reason",
                    message: "required".into(),
                });
            }
            Ok(vec![match resolution {
                Resolution::BadData => ViolationEvent::Voided {
                    by: by.clone(),
                    reason: reason.clone(),
                    at: *at,
                },
                Resolution::Assign(m) => ViolationEvent::Matched(Match {
                    matched_at: *at,
                    resolved_by: by.clone(),
                    reason: reason.clone(),
                    ..m.as_ref().clone()
                }),
            }])
        }
        ViolationCommand::Dispute { case_id, at } => {
            if state.disputes.contains(case_id) {
                return Ok(Vec::new());
            }
            Ok(vec![ViolationEvent::Disputed {
                case_id: case_id.clone(),
                at: *at,
            }])
        }
        ViolationCommand::EndDispute { case_id, at } => {
            if !state.disputes.contains(case_id) {
                return Ok(Vec::new());
            }
            Ok(vec![ViolationEvent::DisputeEnded {
                case_id: case_id.clone(),
                at: *at,
            }])
        }
        ViolationCommand::Waive { case_id, at, by } => {
            if state.waived || state.voided || state.handled_at.is_some() || state.taken(Step::Charge) {
                return Ok(Vec::new());
            }
            Ok(vec![ViolationEvent::Waived {
                case_id: case_id.clone(),
                at: *at,
                by: by.clone(),
            }])
        }
        ViolationCommand::TakeStep {
            step,
            now,
            ladder,
            charge,
            appeal_until,
        } => {
            if state.taken(*step) {
                // Another replica got there first: nothing to do.
                return Ok(Vec::new());
            }
            let Some((next, due)) = state.next_step(ladder) else {
                return Err(ViolationError::NotNext {
                    step: *step,
                    status: state.status().code(),
                });
            };
            if next != *step {
                return Err(ViolationError::NotNext {
                    step: *step,
                    status: state.status().code(),
                });
            }
            if due > *now {
                return Err(ViolationError::NotDue { step: *step, due });
            }
            let (charge_booking_id, charged) = match (step, charge) {
                (Step::Charge, Some((booking, amount))) => (booking.clone(), *amount),
                (Step::Charge, None) => return Err(ViolationError::ChargeWithoutBooking),
                _ => (String::new(), Fen::ZERO),
            };
            let deadline = (*step == Step::Notice).then(|| due + time::Duration::days(i64::from(ladder.deadline_days)));
            let record = state.record.as_ref().ok_or(ViolationError::NotFound)?;
            let matched = state.matched.as_ref().ok_or(ViolationError::NotFound)?;
            let notices = super::ladder::notices(*step, record, matched, deadline.or(state.deadline()), charged);
            Ok(vec![ViolationEvent::StepTaken(StepTaken {
                step: *step,
                due_at: due,
                taken_at: *now,
                notices,
                deadline,
                charge_booking_id,
                charged,
                points_appeal_until: if *step == Step::Charge { *appeal_until } else { None },
            })])
        }
    }
}

pub fn evolve(mut state: Violation, event: &ViolationEvent) -> Violation {
    match event {
        ViolationEvent::Disputed { case_id, at } => {
            if state.disputes.is_empty() {
                state.paused_since = Some(*at);
            }
            state.disputes.insert(case_id.clone());
        }
        ViolationEvent::DisputeEnded { case_id, at } => {
            state.disputes.remove(case_id);
            if state.disputes.is_empty()
                && let Some(since) = state.paused_since.take()
            {
                state.paused_seconds = state
                    .paused_seconds
                    .saturating_add((*at - since).whole_seconds().max(0));
            }
        }
        ViolationEvent::Waived { .. } => state.waived = true,
        ViolationEvent::Recorded { id, record } => {
            state.id = id.clone();
            state.record = Some(record.clone());
        }
        ViolationEvent::Matched(m) => {
            // Another party: the ladder starts again for them.
            if state.matched.as_ref().is_none_or(|known| !known.same_party(m)) {
                state.steps.clear();
            }
            state.matched = Some(m.clone());
            state.unmatched = None;
        }
        ViolationEvent::Unmatched(u) => {
            state.matched = None;
            state.steps.clear();
            state.unmatched = Some(u.clone());
        }
        ViolationEvent::Voided { .. } => state.voided = true,
        ViolationEvent::Handled { at, .. } => state.handled_at = Some(*at),
        ViolationEvent::StepTaken(s) => state.steps.push(s.clone()),
    }
    state
}
