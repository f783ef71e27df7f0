//! The explicit mapping between the receivables domain's events and their wire messages
//! (`proto/rentops/receivables/v1/events.proto`), one [`WireEvent`] impl per event. Each event's
//! name is written once, as its `NAME`; decoding refuses what the domain cannot hold (a time out
//! of range, an unknown enum value, a plate that does not parse, a negative amount) with a
//! [`DecodeError`] naming the event and the field.

use prost::Message;
use rentops_kernel::{DecodeError, EventCodec, Fen, Plate};
use rentops_proto::receivables as pb;
use rentops_proto::timestamp::{event_time, event_time_opt, to_timestamp, to_timestamp_opt};

use super::ladder::Step;
use super::violation::{
    Match, Notice, NoticeChannel, Record, Responsibility, StepTaken, Unmatched, UnmatchedReason, ViolationAggregate,
    ViolationEvent,
};

/// One domain event and its wire message.
pub trait WireEvent: Sized {
    const NAME: &'static str;
    type Proto: Message + Default;

    fn to_pb(&self) -> Self::Proto;
    fn from_pb(m: Self::Proto) -> Result<Self, DecodeError>;
}

pub(crate) fn decode<E: WireEvent>(payload: &[u8]) -> Result<E, DecodeError> {
    let m = E::Proto::decode(payload).map_err(|e| DecodeError::malformed(E::NAME, e))?;
    E::from_pb(m)
}

pub(crate) fn amount(name: &str, field: &str, fen: i64) -> Result<Fen, DecodeError> {
    if fen < 0 {
        return Err(DecodeError::invalid(name, field, "negative"));
    }
    Ok(Fen(fen))
}

// ---- enums ---------------------------------------------------------------------------------------

pub fn responsibility_pb(r: Responsibility) -> pb::Responsibility {
    match r {
        Responsibility::Renter => pb::Responsibility::Renter,
        Responsibility::Driver => pb::Responsibility::Driver,
        Responsibility::Staff => pb::Responsibility::Staff,
        Responsibility::Company => pb::Responsibility::Company,
    }
}

fn responsibility_from_pb(v: i32) -> Option<Responsibility> {
    match pb::Responsibility::try_from(v).ok()? {
        pb::Responsibility::Renter => Some(Responsibility::Renter),
        pb::Responsibility::Driver => Some(Responsibility::Driver),
        pb::Responsibility::Staff => Some(Responsibility::Staff),
        pb::Responsibility::Company => Some(Responsibility::Company),
        pb::Responsibility::Unspecified => None,
    }
}

pub fn unmatched_reason_pb(r: UnmatchedReason) -> pb::UnmatchedReason {
    match r {
        UnmatchedReason::UnknownPlate => pb::UnmatchedReason::UnknownPlate,
        UnmatchedReason::NoHire => pb::UnmatchedReason::NoHire,
    }
}

fn unmatched_reason_from_pb(v: i32) -> Option<UnmatchedReason> {
    match pb::UnmatchedReason::try_from(v).ok()? {
        pb::UnmatchedReason::UnknownPlate => Some(UnmatchedReason::UnknownPlate),
        pb::UnmatchedReason::NoHire => Some(UnmatchedReason::NoHire),
        pb::UnmatchedReason::Unspecified => None,
    }
}

pub fn step_pb(s: Step) -> pb::LadderStep {
    match s {
        Step::Notice => pb::LadderStep::Notice,
        Step::Reminder => pb::LadderStep::Reminder,
        Step::FinalReminder => pb::LadderStep::FinalReminder,
        Step::Deadline => pb::LadderStep::Deadline,
        Step::Escalation => pb::LadderStep::Escalation,
        Step::Charge => pb::LadderStep::Charge,
        Step::Collections => pb::LadderStep::Collections,
    }
}

fn step_from_pb(v: i32) -> Option<Step> {
    match pb::LadderStep::try_from(v).ok()? {
        pb::LadderStep::Notice => Some(Step::Notice),
        pb::LadderStep::Reminder => Some(Step::Reminder),
        pb::LadderStep::FinalReminder => Some(Step::FinalReminder),
        pb::LadderStep::Deadline => Some(Step::Deadline),
        pb::LadderStep::Escalation => Some(Step::Escalation),
        pb::LadderStep::Charge => Some(Step::Charge),
        pb::LadderStep::Collections => Some(Step::Collections),
        pb::LadderStep::Unspecified => None,
    }
}

fn channel_pb(c: NoticeChannel) -> pb::NoticeChannel {
    match c {
        NoticeChannel::Sms => pb::NoticeChannel::Sms,
        NoticeChannel::AppPush => pb::NoticeChannel::AppPush,
        NoticeChannel::DeskCall => pb::NoticeChannel::DeskCall,
    }
}

fn channel_from_pb(v: i32) -> Option<NoticeChannel> {
    match pb::NoticeChannel::try_from(v).ok()? {
        pb::NoticeChannel::Sms => Some(NoticeChannel::Sms),
        pb::NoticeChannel::AppPush => Some(NoticeChannel::AppPush),
        pb::NoticeChannel::DeskCall => Some(NoticeChannel::DeskCall),
        pb::NoticeChannel::Unspecified => None,
    }
}

fn unknown(name: &str, field: &str, value: i32) -> DecodeError {
    DecodeError::invalid(name, field, format!("unknown value {value}"))
}

// ---- events --------------------------------------------------------------------------------------

/// `ViolationRecorded`, owned after decoding.
pub struct RecordedOwned(pub String, pub Record);

impl WireEvent for RecordedOwned {
    const NAME: &'static str = "ViolationRecorded";
    type Proto = pb::ViolationRecorded;

    fn to_pb(&self) -> pb::ViolationRecorded {
        recorded_pb(&self.0, &self.1)
    }

    fn from_pb(m: pb::ViolationRecorded) -> Result<Self, DecodeError> {
        let n = Self::NAME;
        let plate = Plate::parse(&m.plate).map_err(|e| DecodeError::invalid(n, "plate", e))?;
        Ok(RecordedOwned(
            m.violation_id,
            Record {
                plate,
                plate_kind: m.plate_kind,
                offence_at: event_time(n, "offence_at", m.offence_at.as_ref())?,
                place: m.place,
                offence_code: m.offence_code,
                offence_text: m.offence_text,
                fine: amount(n, "fine_fen", m.fine_fen)?,
                points: m.points,
                authority_ref: m.authority_ref,
                source: m.source,
                received_at: event_time(n, "received_at", m.received_at.as_ref())?,
                handled: m.handled,
            },
        ))
    }
}

pub fn recorded_pb(id: &str, r: &Record) -> pb::ViolationRecorded {
    pb::ViolationRecorded {
        violation_id: id.to_owned(),
        plate: r.plate.to_string(),
        plate_kind: r.plate_kind.clone(),
        offence_at: Some(to_timestamp(r.offence_at)),
        place: r.place.clone(),
        offence_code: r.offence_code.clone(),
        offence_text: r.offence_text.clone(),
        fine_fen: r.fine.0,
        points: r.points,
        authority_ref: r.authority_ref.clone(),
        source: r.source.clone(),
        received_at: Some(to_timestamp(r.received_at)),
        handled: r.handled,
    }
}

impl WireEvent for Match {
    const NAME: &'static str = "ViolationMatched";
    type Proto = pb::ViolationMatched;

    fn to_pb(&self) -> pb::ViolationMatched {
        pb::ViolationMatched {
            violation_id: String::new(),
            responsibility: responsibility_pb(self.responsibility) as i32,
            order_id: self.order_id.clone(),
            customer_id: self.customer_id.clone(),
            customer_phone: self.customer_phone.clone(),
            city: self.city.clone(),
            vehicle_id: self.vehicle_id.clone(),
            person_id: self.person_id.clone(),
            matched_at: Some(to_timestamp(self.matched_at)),
            resolved_by: self.resolved_by.clone(),
            reason: self.reason.clone(),
        }
    }

    fn from_pb(m: pb::ViolationMatched) -> Result<Self, DecodeError> {
        let n = Self::NAME;
        Ok(Match {
            responsibility: responsibility_from_pb(m.responsibility)
                .ok_or_else(|| unknown(n, "responsibility", m.responsibility))?,
            order_id: m.order_id,
            customer_id: m.customer_id,
            customer_phone: m.customer_phone,
            city: m.city,
            vehicle_id: m.vehicle_id,
            person_id: m.person_id,
            matched_at: event_time(n, "matched_at", m.matched_at.as_ref())?,
            resolved_by: m.resolved_by,
            reason: m.reason,
        })
    }
}

impl WireEvent for Unmatched {
    const NAME: &'static str = "ViolationUnmatched";
    type Proto = pb::ViolationUnmatched;

    fn to_pb(&self) -> pb::ViolationUnmatched {
        pb::ViolationUnmatched {
            violation_id: String::new(),
            reason: unmatched_reason_pb(self.reason) as i32,
            vehicle_id: self.vehicle_id.clone(),
            detail: self.detail.clone(),
            at: Some(to_timestamp(self.at)),
        }
    }

    fn from_pb(m: pb::ViolationUnmatched) -> Result<Self, DecodeError> {
        let n = Self::NAME;
        Ok(Unmatched {
            reason: unmatched_reason_from_pb(m.reason).ok_or_else(|| unknown(n, "reason", m.reason))?,
            vehicle_id: m.vehicle_id,
            detail: m.detail,
            at: event_time(n, "at", m.at.as_ref())?,
        })
    }
}

pub struct Voided {
    pub by: String,
    pub reason: String,
    pub at: time::OffsetDateTime,
}

impl WireEvent for Voided {
    const NAME: &'static str = "ViolationVoided";
    type Proto = pb::ViolationVoided;

    fn to_pb(&self) -> pb::ViolationVoided {
        pb::ViolationVoided {
            violation_id: String::new(),
            voided_by: self.by.clone(),
            reason: self.reason.clone(),
            at: Some(to_timestamp(self.at)),
        }
    }

    fn from_pb(m: pb::ViolationVoided) -> Result<Self, DecodeError> {
        Ok(Voided {
            by: m.voided_by,
            reason: m.reason,
            at: event_time(Self::NAME, "at", m.at.as_ref())?,
        })
    }
}

pub struct Handled {
    pub at: time::OffsetDateTime,
    pub source: String,
}

impl WireEvent for Handled {
    const NAME: &'static str = "ViolationHandled";
    type Proto = pb::ViolationHandled;

    fn to_pb(&self) -> pb::ViolationHandled {
        pb::ViolationHandled {
            violation_id: String::new(),
            at: Some(to_timestamp(self.at)),
            source: self.source.clone(),
        }
    }

    fn from_pb(m: pb::ViolationHandled) -> Result<Self, DecodeError> {
        Ok(Handled {
            at: event_time(Self::NAME, "at", m.at.as_ref())?,
            source: m.source,
        })
    }
}

impl WireEvent for StepTaken {
    const NAME: &'static str = "LadderStepTaken";
    type Proto = pb::LadderStepTaken;

    fn to_pb(&self) -> pb::LadderStepTaken {
        pb::LadderStepTaken {
            violation_id: String::new(),
            step: step_pb(self.step) as i32,
            due_at: Some(to_timestamp(self.due_at)),
            taken_at: Some(to_timestamp(self.taken_at)),
            notices: self
                .notices
                .iter()
                .map(|n| pb::Notice {
                    channel: channel_pb(n.channel) as i32,
                    customer_id: n.customer_id.clone(),
                    phone: n.phone.clone(),
                    template: n.template.clone(),
                    text: n.text.clone(),
                })
                .collect(),
            deadline: to_timestamp_opt(self.deadline),
            charge_booking_id: self.charge_booking_id.clone(),
            charged_fen: self.charged.0,
            points_appeal_until: to_timestamp_opt(self.points_appeal_until),
        }
    }

    fn from_pb(m: pb::LadderStepTaken) -> Result<Self, DecodeError> {
        let n = Self::NAME;
        let notices = m
            .notices
            .into_iter()
            .map(|x| {
                Ok(Notice {
                    channel: channel_from_pb(x.channel).ok_or_else(|| unknown(n, "notices.channel", x.channel))?,
                    customer_id: x.customer_id,
                    phone: x.phone,
                    template: x.template,
                    text: x.text,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(StepTaken {
            step: step_from_pb(m.step).ok_or_else(|| unknown(n, "step", m.step))?,
            due_at: event_time(n, "due_at", m.due_at.as_ref())?,
            taken_at: event_time(n, "taken_at", m.taken_at.as_ref())?,
            notices,
            deadline: event_time_opt(n, "deadline", m.deadline.as_ref())?,
            charge_booking_id: m.charge_booking_id,
            charged: amount(n, "charged_fen", m.charged_fen)?,
            points_appeal_until: event_time_opt(n, "points_appeal_until", m.points_appeal_until.as_ref())?,
        })
    }
}

/// A dispute's or waiver's case and time (`ViolationDisputed`, `ViolationDisputeEnded`,
/// `ViolationWaived`).
pub struct CaseEvent<const K: u8> {
    pub case_id: String,
    pub at: time::OffsetDateTime,
    pub by: String,
}

const DISPUTED: u8 = 0;
const DISPUTE_ENDED: u8 = 1;
const WAIVED: u8 = 2;

impl WireEvent for CaseEvent<DISPUTED> {
    const NAME: &'static str = "ViolationDisputed";
    type Proto = pb::ViolationDisputed;

    fn to_pb(&self) -> pb::ViolationDisputed {
        pb::ViolationDisputed {
            case_id: self.case_id.clone(),
            at: Some(to_timestamp(self.at)),
        }
    }

    fn from_pb(m: pb::ViolationDisputed) -> Result<Self, DecodeError> {
        Ok(CaseEvent {
            case_id: m.case_id,
            at: event_time(Self::NAME, "at", m.at.as_ref())?,
            by: String::new(),
        })
    }
}

impl WireEvent for CaseEvent<DISPUTE_ENDED> {
    const NAME: &'static str = "ViolationDisputeEnded";
    type Proto = pb::ViolationDisputeEnded;

    fn to_pb(&self) -> pb::ViolationDisputeEnded {
        pb::ViolationDisputeEnded {
            case_id: self.case_id.clone(),
            at: Some(to_timestamp(self.at)),
        }
    }

    fn from_pb(m: pb::ViolationDisputeEnded) -> Result<Self, DecodeError> {
        Ok(CaseEvent {
            case_id: m.case_id,
            at: event_time(Self::NAME, "at", m.at.as_ref())?,
            by: String::new(),
        })
    }
}

impl WireEvent for CaseEvent<WAIVED> {
    const NAME: &'static str = "ViolationWaived";
    type Proto = pb::ViolationWaived;

    fn to_pb(&self) -> pb::ViolationWaived {
        pb::ViolationWaived {
            case_id: self.case_id.clone(),
            at: Some(to_timestamp(self.at)),
            waived_by: self.by.clone(),
        }
    }

    fn from_pb(m: pb::ViolationWaived) -> Result<Self, DecodeError> {
        Ok(CaseEvent {
            case_id: m.case_id,
            at: event_time(Self::NAME, "at", m.at.as_ref())?,
            by: m.waived_by,
        })
    }
}

fn case<const K: u8>(case_id: &str, at: time::OffsetDateTime, by: &str) -> CaseEvent<K> {
    CaseEvent {
        case_id: case_id.to_owned(),
        at,
        by: by.to_owned(),
    }
}

/// The wire message of `event` of violation `id`, with `violation_id` set (for queries' timelines).
pub fn violation_event_pb(event: &ViolationEvent, id: &str) -> pb::violation_event::Event {
    use pb::violation_event::Event as E;
    let id = id.to_owned();
    match event {
        ViolationEvent::Recorded { id: vid, record } => E::Recorded(recorded_pb(vid, record)),
        ViolationEvent::Matched(m) => E::Matched(pb::ViolationMatched {
            violation_id: id,
            ..m.to_pb()
        }),
        ViolationEvent::Unmatched(u) => E::Unmatched(pb::ViolationUnmatched {
            violation_id: id,
            ..u.to_pb()
        }),
        ViolationEvent::Voided { by, reason, at } => E::Voided(pb::ViolationVoided {
            violation_id: id,
            ..Voided {
                by: by.clone(),
                reason: reason.clone(),
                at: *at,
            }
            .to_pb()
        }),
        ViolationEvent::Handled { at, source } => E::Handled(pb::ViolationHandled {
            violation_id: id,
            ..Handled {
                at: *at,
                source: source.clone(),
            }
            .to_pb()
        }),
        ViolationEvent::StepTaken(s) => E::StepTaken(pb::LadderStepTaken {
            violation_id: id,
            ..s.to_pb()
        }),
        ViolationEvent::Disputed { case_id, at } => E::Disputed(case::<DISPUTED>(case_id, *at, "").to_pb()),
        ViolationEvent::DisputeEnded { case_id, at } => {
            E::DisputeEnded(case::<DISPUTE_ENDED>(case_id, *at, "").to_pb())
        }
        ViolationEvent::Waived { case_id, at, by } => E::Waived(case::<WAIVED>(case_id, *at, by).to_pb()),
    }
}

fn event_id(event: &ViolationEvent) -> Option<&str> {
    match event {
        ViolationEvent::Recorded { id, .. } => Some(id),
        _ => None,
    }
}

impl EventCodec for ViolationAggregate {
    type Event = ViolationEvent;

    fn name(event: &ViolationEvent) -> &'static str {
        match event {
            ViolationEvent::Recorded { .. } => RecordedOwned::NAME,
            ViolationEvent::Matched(_) => Match::NAME,
            ViolationEvent::Unmatched(_) => Unmatched::NAME,
            ViolationEvent::Voided { .. } => Voided::NAME,
            ViolationEvent::Handled { .. } => Handled::NAME,
            ViolationEvent::StepTaken(_) => StepTaken::NAME,
            ViolationEvent::Disputed { .. } => CaseEvent::<DISPUTED>::NAME,
            ViolationEvent::DisputeEnded { .. } => CaseEvent::<DISPUTE_ENDED>::NAME,
            ViolationEvent::Waived { .. } => CaseEvent::<WAIVED>::NAME,
        }
    }

    fn encode(event: &ViolationEvent) -> Vec<u8> {
        // The violation's id is on the subject; only the first event carries it in the body too.
        use pb::violation_event::Event as E;
        let id = event_id(event).unwrap_or_default();
        match violation_event_pb(event, id) {
            E::Recorded(m) => m.encode_to_vec(),
            E::Matched(m) => m.encode_to_vec(),
            E::Unmatched(m) => m.encode_to_vec(),
            E::Voided(m) => m.encode_to_vec(),
            E::Handled(m) => m.encode_to_vec(),
            E::StepTaken(m) => m.encode_to_vec(),
            E::Disputed(m) => m.encode_to_vec(),
            E::DisputeEnded(m) => m.encode_to_vec(),
            E::Waived(m) => m.encode_to_vec(),
        }
    }

    fn decode(name: &str, payload: &[u8]) -> Result<ViolationEvent, DecodeError> {
        Ok(match name {
            RecordedOwned::NAME => {
                let RecordedOwned(id, record) = decode(payload)?;
                ViolationEvent::Recorded { id, record }
            }
            Match::NAME => ViolationEvent::Matched(decode(payload)?),
            Unmatched::NAME => ViolationEvent::Unmatched(decode(payload)?),
            Voided::NAME => {
                let v: Voided = decode(payload)?;
                ViolationEvent::Voided {
                    by: v.by,
                    reason: v.reason,
                    at: v.at,
                }
            }
            Handled::NAME => {
                let h: Handled = decode(payload)?;
                ViolationEvent::Handled {
                    at: h.at,
                    source: h.source,
                }
            }
            StepTaken::NAME => ViolationEvent::StepTaken(decode(payload)?),
            CaseEvent::<DISPUTED>::NAME => {
                let c: CaseEvent<DISPUTED> = decode(payload)?;
                ViolationEvent::Disputed {
                    case_id: c.case_id,
                    at: c.at,
                }
            }
            CaseEvent::<DISPUTE_ENDED>::NAME => {
                let c: CaseEvent<DISPUTE_ENDED> = decode(payload)?;
                ViolationEvent::DisputeEnded {
                    case_id: c.case_id,
                    at: c.at,
                }
            }
            CaseEvent::<WAIVED>::NAME => {
                let c: CaseEvent<WAIVED> = decode(payload)?;
                ViolationEvent::Waived {
                    case_id: c.case_id,
                    at: c.at,
                    by: c.by,
                }
            }
            other => return Err(DecodeError::unknown(other)),
        })
    }
}
