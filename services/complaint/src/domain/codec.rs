//! The case's events on the wire (`proto/rentops/complaint/v1/events.proto`), one mapping each
//! way. `CaseOpened`, `CaseResolved`, `CaseReopened` and `CaseClosed` are the contract
//! receivables reads (ADR 0020): their fields keep their meaning.

use prost::Message;
use rentops_kernel::{DecodeError, EventCodec, Fen};
use rentops_proto::common::Money;
use rentops_proto::complaint as pb;
use rentops_proto::timestamp::{event_time, to_timestamp};
use time::Duration;

use super::case::{
    CaseAggregate, CaseEvent, Channel, CloseReason, Context, Links, Opened, Remedy, Severity, SlaMark, WaitingOn,
};
use super::sla::ClockKind;

pub const OPENED: &str = "CaseOpened";
pub const SEVERITY_OVERRIDDEN: &str = "CaseSeverityOverridden";
pub const ASSIGNED: &str = "CaseAssigned";
pub const FIRST_RESPONSE: &str = "CaseFirstResponseRecorded";
pub const INVESTIGATION: &str = "CaseInvestigationStarted";
pub const WAITING: &str = "CaseWaitingStarted";
pub const RESUMED: &str = "CaseResumed";
pub const ROOT_CAUSE: &str = "CaseRootCauseSet";
pub const RESOLVED: &str = "CaseResolved";
pub const CLOSED: &str = "CaseClosed";
pub const REOPENED: &str = "CaseReopened";
pub const AT_RISK: &str = "SlaAtRisk";
pub const BREACHED: &str = "SlaBreached";
pub const ESCALATED: &str = "CaseEscalated";

pub fn money(f: Fen) -> Money {
    Money {
        amount_fen: f.0,
        currency: "CNY".into(),
    }
}

fn amount(name: &str, field: &str, m: Option<&Money>) -> Result<Fen, DecodeError> {
    let m = m.ok_or_else(|| DecodeError::missing(name, field))?;
    if m.amount_fen < 0 {
        return Err(DecodeError::invalid(name, field, "negative"));
    }
    Ok(Fen(m.amount_fen))
}

pub fn clock_pb(c: ClockKind) -> pb::SlaClock {
    match c {
        ClockKind::FirstResponse => pb::SlaClock::FirstResponse,
        ClockKind::Resolution => pb::SlaClock::Resolution,
    }
}

pub fn clock_from_pb(v: i32) -> Option<ClockKind> {
    Some(match pb::SlaClock::try_from(v).ok()? {
        pb::SlaClock::FirstResponse => ClockKind::FirstResponse,
        pb::SlaClock::Resolution => ClockKind::Resolution,
        pb::SlaClock::Unspecified => return None,
    })
}

fn clock(name: &str, v: i32) -> Result<ClockKind, DecodeError> {
    clock_from_pb(v).ok_or_else(|| DecodeError::invalid(name, "clock", format!("unknown value {v}")))
}

pub fn waiting_pb(w: WaitingOn) -> pb::WaitingOn {
    match w {
        WaitingOn::Customer => pb::WaitingOn::Customer,
        WaitingOn::ThirdParty => pb::WaitingOn::ThirdParty,
    }
}

fn close_reason_pb(r: CloseReason) -> pb::CloseReason {
    match r {
        CloseReason::CustomerAccepted => pb::CloseReason::CustomerAccepted,
        CloseReason::Silence => pb::CloseReason::Silence,
    }
}

pub fn links_pb(l: &Links) -> pb::CaseLinks {
    pb::CaseLinks {
        customer_id: l.customer_id.clone(),
        order_id: l.order_id.clone(),
        vehicle_id: l.vehicle_id.clone(),
        violation_id: l.violation_id.clone(),
        claim_id: l.claim_id.clone(),
        charge_booking_id: l.charge_booking_id.clone(),
    }
}

pub fn opened_pb(o: &Opened) -> pb::CaseOpened {
    pb::CaseOpened {
        case_id: o.case_id.clone(),
        links: Some(links_pb(&o.links)),
        channel: o.channel.code().to_owned(),
        category: o.category.clone(),
        sub_category: o.sub_category.clone(),
        severity: o.severity.code().to_owned(),
        text: o.text.clone(),
        opened_at: Some(to_timestamp(o.opened_at)),
        severity_basis: o.severity_basis.clone(),
        opened_by: o.opened_by.clone(),
        city: o.context.city.clone(),
        vehicle_model: o.context.vehicle_model.clone(),
        order_channel: o.context.order_channel.clone(),
    }
}

pub fn remedy_pb(r: &Remedy) -> pb::Remedy {
    use pb::remedy::Remedy as R;
    pb::Remedy {
        remedy: Some(match r {
            Remedy::Waive {
                customer_id,
                violation_id,
                charge_booking_id,
                amount,
            } => R::Waive(pb::WaiveCharge {
                customer_id: customer_id.clone(),
                violation_id: violation_id.clone(),
                charge_booking_id: charge_booking_id.clone(),
                amount: amount.map(money),
            }),
            Remedy::Voucher(f) => R::Voucher(money(*f)),
            Remedy::Refund(f) => R::Refund(money(*f)),
        }),
    }
}

fn remedy_from_pb(name: &str, r: pb::Remedy) -> Result<Remedy, DecodeError> {
    use pb::remedy::Remedy as R;
    Ok(match r.remedy {
        None => return Err(DecodeError::missing(name, "remedies.remedy")),
        Some(R::Waive(w)) => Remedy::Waive {
            customer_id: w.customer_id,
            violation_id: w.violation_id,
            charge_booking_id: w.charge_booking_id,
            amount: match w.amount {
                None => None,
                Some(m) => Some(amount(name, "remedies.waive.amount", Some(&m))?),
            },
        },
        Some(R::Voucher(m)) => Remedy::Voucher(amount(name, "remedies.voucher", Some(&m))?),
        Some(R::Refund(m)) => Remedy::Refund(amount(name, "remedies.refund", Some(&m))?),
    })
}

fn seconds(d: Duration) -> i64 {
    d.whole_seconds()
}

impl EventCodec for CaseAggregate {
    type Event = CaseEvent;

    fn name(event: &CaseEvent) -> &'static str {
        match event {
            CaseEvent::Opened(_) => OPENED,
            CaseEvent::SeverityOverridden { .. } => SEVERITY_OVERRIDDEN,
            CaseEvent::Assigned { .. } => ASSIGNED,
            CaseEvent::FirstResponseRecorded { .. } => FIRST_RESPONSE,
            CaseEvent::InvestigationStarted { .. } => INVESTIGATION,
            CaseEvent::WaitingStarted { .. } => WAITING,
            CaseEvent::Resumed { .. } => RESUMED,
            CaseEvent::RootCauseSet { .. } => ROOT_CAUSE,
            CaseEvent::Resolved { .. } => RESOLVED,
            CaseEvent::Closed { .. } => CLOSED,
            CaseEvent::Reopened { .. } => REOPENED,
            CaseEvent::SlaAtRisk(_) => AT_RISK,
            CaseEvent::SlaBreached(_) => BREACHED,
            CaseEvent::Escalated { .. } => ESCALATED,
        }
    }

    /// `CaseOpened`, `CaseResolved`, `CaseClosed` and `CaseReopened` carry the case id (the
    /// contract receivables reads from the message); the complaint service's own events leave
    /// it empty, as the subject and the envelope carry it.
    fn encode(event: &CaseEvent) -> Vec<u8> {
        event_bytes(event)
    }

    fn decode(name: &str, payload: &[u8]) -> Result<CaseEvent, DecodeError> {
        let bad = |e: prost::DecodeError| DecodeError::malformed(name, e);
        Ok(match name {
            OPENED => {
                let m = pb::CaseOpened::decode(payload).map_err(bad)?;
                let l = m.links.ok_or_else(|| DecodeError::missing(name, "links"))?;
                CaseEvent::Opened(Opened {
                    case_id: m.case_id,
                    links: Links {
                        customer_id: l.customer_id,
                        order_id: l.order_id,
                        vehicle_id: l.vehicle_id,
                        violation_id: l.violation_id,
                        claim_id: l.claim_id,
                        charge_booking_id: l.charge_booking_id,
                    },
                    channel: Channel::parse(&m.channel)
                        .ok_or_else(|| DecodeError::invalid(name, "channel", format!("unknown {:?}", m.channel)))?,
                    category: m.category,
                    sub_category: m.sub_category,
                    severity: Severity::parse(&m.severity)
                        .ok_or_else(|| DecodeError::invalid(name, "severity", format!("unknown {:?}", m.severity)))?,
                    severity_basis: m.severity_basis,
                    text: m.text,
                    opened_at: event_time(name, "opened_at", m.opened_at.as_ref())?,
                    opened_by: m.opened_by,
                    context: Context {
                        city: m.city,
                        vehicle_model: m.vehicle_model,
                        order_channel: m.order_channel,
                    },
                })
            }
            SEVERITY_OVERRIDDEN => {
                let m = pb::CaseSeverityOverridden::decode(payload).map_err(bad)?;
                let sev = |field: &str, s: &str| {
                    Severity::parse(s).ok_or_else(|| DecodeError::invalid(name, field, format!("unknown {s:?}")))
                };
                CaseEvent::SeverityOverridden {
                    previous: sev("previous", &m.previous)?,
                    severity: sev("severity", &m.severity)?,
                    reason: m.reason,
                    by: m.by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            ASSIGNED => {
                let m = pb::CaseAssigned::decode(payload).map_err(bad)?;
                CaseEvent::Assigned {
                    agent: m.agent,
                    by: m.by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            FIRST_RESPONSE => {
                let m = pb::CaseFirstResponseRecorded::decode(payload).map_err(bad)?;
                CaseEvent::FirstResponseRecorded {
                    note: m.note,
                    by: m.by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            INVESTIGATION => {
                let m = pb::CaseInvestigationStarted::decode(payload).map_err(bad)?;
                CaseEvent::InvestigationStarted {
                    by: m.by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            WAITING => {
                let m = pb::CaseWaitingStarted::decode(payload).map_err(bad)?;
                let on = match pb::WaitingOn::try_from(m.waiting_on) {
                    Ok(pb::WaitingOn::Customer) => WaitingOn::Customer,
                    Ok(pb::WaitingOn::ThirdParty) => WaitingOn::ThirdParty,
                    _ => {
                        return Err(DecodeError::invalid(
                            name,
                            "waiting_on",
                            format!("unknown value {}", m.waiting_on),
                        ));
                    }
                };
                CaseEvent::WaitingStarted {
                    on,
                    reason: m.reason,
                    by: m.by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            RESUMED => {
                let m = pb::CaseResumed::decode(payload).map_err(bad)?;
                CaseEvent::Resumed {
                    by: m.by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            ROOT_CAUSE => {
                let m = pb::CaseRootCauseSet::decode(payload).map_err(bad)?;
                CaseEvent::RootCauseSet {
                    root_cause: m.root_cause,
                    note: m.note,
                    by: m.by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            RESOLVED => {
                let m = pb::CaseResolved::decode(payload).map_err(bad)?;
                CaseEvent::Resolved {
                    case_id: m.case_id,
                    explanation: m.explanation,
                    remedies: m
                        .remedies
                        .into_iter()
                        .map(|r| remedy_from_pb(name, r))
                        .collect::<Result<_, _>>()?,
                    by: m.resolved_by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            CLOSED => {
                let m = pb::CaseClosed::decode(payload).map_err(bad)?;
                CaseEvent::Closed {
                    case_id: m.case_id,
                    // Written before the reason was recorded: the customer's acceptance.
                    reason: match pb::CloseReason::try_from(m.reason) {
                        Ok(pb::CloseReason::Silence) => CloseReason::Silence,
                        _ => CloseReason::CustomerAccepted,
                    },
                    by: m.by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            REOPENED => {
                let m = pb::CaseReopened::decode(payload).map_err(bad)?;
                CaseEvent::Reopened {
                    case_id: m.case_id,
                    reason: m.reason,
                    by: m.by,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            AT_RISK => {
                let m = pb::SlaAtRisk::decode(payload).map_err(bad)?;
                CaseEvent::SlaAtRisk(SlaMark {
                    clock: clock(name, m.clock)?,
                    policy: m.policy,
                    target: Duration::seconds(m.target_seconds),
                    spent: Duration::seconds(m.spent_seconds),
                    reached_at: event_time(name, "reached_at", m.reached_at.as_ref())?,
                    at: event_time(name, "at", m.at.as_ref())?,
                })
            }
            BREACHED => {
                let m = pb::SlaBreached::decode(payload).map_err(bad)?;
                CaseEvent::SlaBreached(SlaMark {
                    clock: clock(name, m.clock)?,
                    policy: m.policy,
                    target: Duration::seconds(m.target_seconds),
                    spent: Duration::seconds(m.spent_seconds),
                    reached_at: event_time(name, "reached_at", m.reached_at.as_ref())?,
                    at: event_time(name, "at", m.at.as_ref())?,
                })
            }
            ESCALATED => {
                let m = pb::CaseEscalated::decode(payload).map_err(bad)?;
                CaseEvent::Escalated {
                    clock: clock(name, m.clock)?,
                    to: m.to,
                    reason: m.reason,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            other => return Err(DecodeError::unknown(other)),
        })
    }
}

/// The event's message, as bytes.
fn event_bytes(event: &CaseEvent) -> Vec<u8> {
    let id = String::new();
    match event {
        CaseEvent::Opened(o) => opened_pb(o).encode_to_vec(),
        CaseEvent::SeverityOverridden {
            previous,
            severity,
            reason,
            by,
            at,
        } => pb::CaseSeverityOverridden {
            case_id: id,
            previous: previous.code().into(),
            severity: severity.code().into(),
            reason: reason.clone(),
            by: by.clone(),
            at: Some(to_timestamp(*at)),
        }
        .encode_to_vec(),
        CaseEvent::Assigned { agent, by, at } => pb::CaseAssigned {
            case_id: id,
            agent: agent.clone(),
            by: by.clone(),
            at: Some(to_timestamp(*at)),
        }
        .encode_to_vec(),
        CaseEvent::FirstResponseRecorded { note, by, at } => pb::CaseFirstResponseRecorded {
            case_id: id,
            note: note.clone(),
            by: by.clone(),
            at: Some(to_timestamp(*at)),
        }
        .encode_to_vec(),
        CaseEvent::InvestigationStarted { by, at } => pb::CaseInvestigationStarted {
            case_id: id,
            by: by.clone(),
            at: Some(to_timestamp(*at)),
        }
        .encode_to_vec(),
        CaseEvent::WaitingStarted { on, reason, by, at } => pb::CaseWaitingStarted {
            case_id: id,
            waiting_on: waiting_pb(*on) as i32,
            reason: reason.clone(),
            by: by.clone(),
            at: Some(to_timestamp(*at)),
        }
        .encode_to_vec(),
        CaseEvent::Resumed { by, at } => pb::CaseResumed {
            case_id: id,
            by: by.clone(),
            at: Some(to_timestamp(*at)),
        }
        .encode_to_vec(),
        CaseEvent::RootCauseSet {
            root_cause,
            note,
            by,
            at,
        } => pb::CaseRootCauseSet {
            case_id: id,
            root_cause: root_cause.clone(),
            note: note.clone(),
            by: by.clone(),
            at: Some(to_timestamp(*at)),
        }
        .encode_to_vec(),
        CaseEvent::Resolved {
            case_id,
            explanation,
            remedies,
            by,
            at,
        } => pb::CaseResolved {
            case_id: case_id.clone(),
            explanation: explanation.clone(),
            remedies: remedies.iter().map(remedy_pb).collect(),
            at: Some(to_timestamp(*at)),
            resolved_by: by.clone(),
        }
        .encode_to_vec(),
        CaseEvent::Closed {
            case_id,
            reason,
            by,
            at,
        } => pb::CaseClosed {
            case_id: case_id.clone(),
            at: Some(to_timestamp(*at)),
            reason: close_reason_pb(*reason) as i32,
            by: by.clone(),
        }
        .encode_to_vec(),
        CaseEvent::Reopened {
            case_id,
            reason,
            by,
            at,
        } => pb::CaseReopened {
            case_id: case_id.clone(),
            reason: reason.clone(),
            at: Some(to_timestamp(*at)),
            by: by.clone(),
        }
        .encode_to_vec(),
        CaseEvent::SlaAtRisk(m) => pb::SlaAtRisk {
            case_id: id,
            clock: clock_pb(m.clock) as i32,
            policy: m.policy.clone(),
            target_seconds: seconds(m.target),
            spent_seconds: seconds(m.spent),
            reached_at: Some(to_timestamp(m.reached_at)),
            at: Some(to_timestamp(m.at)),
        }
        .encode_to_vec(),
        CaseEvent::SlaBreached(m) => pb::SlaBreached {
            case_id: id,
            clock: clock_pb(m.clock) as i32,
            policy: m.policy.clone(),
            target_seconds: seconds(m.target),
            spent_seconds: seconds(m.spent),
            reached_at: Some(to_timestamp(m.reached_at)),
            at: Some(to_timestamp(m.at)),
        }
        .encode_to_vec(),
        CaseEvent::Escalated { clock, to, reason, at } => pb::CaseEscalated {
            case_id: id,
            clock: clock_pb(*clock) as i32,
            to: to.clone(),
            reason: reason.clone(),
            at: Some(to_timestamp(*at)),
        }
        .encode_to_vec(),
    }
}
