//! The case's rules as the desk would state them, given / when / then.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rentops_kernel::testing::{assert_round_trip, given};
use rentops_kernel::{Calendar, Fen};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::case::SlaMark;
use super::*;

const T0: OffsetDateTime = datetime!(2026-11-02 09:00 UTC);
const ID: &str = "c-1";

fn opened_with(channel: Channel, category: &str, sub: &str) -> CaseEvent {
    let taxonomy = Taxonomy::embedded().unwrap();
    let standard = taxonomy.classify(category, sub).unwrap();
    let (severity, basis) = severity_by_standard(channel, standard);
    CaseEvent::Opened(Opened {
        case_id: ID.into(),
        links: Links {
            customer_id: "C-1".into(),
            violation_id: "v1".into(),
            charge_booking_id: "b-1".into(),
            ..Links::default()
        },
        channel,
        category: category.into(),
        sub_category: sub.into(),
        severity,
        severity_basis: basis,
        text: "违章费用不对".into(),
        opened_at: T0,
        opened_by: "desk:li".into(),
        context: case::Context {
            city: "SHA".into(),
            vehicle_model: "ET5".into(),
            order_channel: "APP".into(),
        },
    })
}

fn opened() -> CaseEvent {
    opened_with(Channel::Hotline, "billing", "violation_charge")
}

fn assigned() -> CaseEvent {
    CaseEvent::Assigned {
        agent: "desk:li".into(),
        by: "desk:li".into(),
        at: T0,
    }
}

fn resolved(at: OffsetDateTime) -> CaseEvent {
    CaseEvent::Resolved {
        case_id: ID.into(),
        explanation: "fine waived".into(),
        remedies: Vec::new(),
        by: "supervisor:qian".into(),
        at,
    }
}

fn raise(clock: ClockKind, threshold: Threshold, at: OffsetDateTime) -> CaseCommand {
    CaseCommand::RaiseSla {
        clock,
        threshold,
        policies: Arc::new(Policies::embedded().unwrap()),
        calendar: Arc::new(Calendar::embedded().unwrap()),
        at,
    }
}

#[test]
fn severity_follows_the_standard() {
    let t = Taxonomy::embedded().unwrap();
    let sev = |channel, cat, sub| severity_by_standard(channel, t.classify(cat, sub).unwrap()).0;
    assert_eq!(sev(Channel::Regulator12315, "service", "wait_time"), Severity::P1);
    assert_eq!(sev(Channel::Weibo, "vehicle", "cleanliness"), Severity::P1);
    assert_eq!(sev(Channel::Douyin, "vehicle", "cleanliness"), Severity::P1);
    assert_eq!(sev(Channel::Xiaohongshu, "vehicle", "cleanliness"), Severity::P1);
    assert_eq!(sev(Channel::App, "safety", "accident"), Severity::P1);
    assert_eq!(sev(Channel::App, "vehicle", "breakdown"), Severity::P1);
    assert_eq!(sev(Channel::App, "billing", "overcharge"), Severity::P2);
    assert_eq!(sev(Channel::Hotline, "fulfilment", "no_car"), Severity::P2);
    assert_eq!(sev(Channel::Web, "service", "staff_attitude"), Severity::P3);
    assert_eq!(sev(Channel::PartnerOta, "vehicle", "cleanliness"), Severity::P4);
    assert_eq!(sev(Channel::MiniProgram, "billing", "invoice"), Severity::P4);
}

#[test]
fn a_case_opens_once() {
    let CaseEvent::Opened(o) = opened() else { unreachable!() };
    given::<CaseAggregate>([])
        .when(CaseCommand::Open(o.clone()))
        .then([opened()]);
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::Open(o))
        .then_err(CaseError::AlreadyOpened);
}

#[test]
fn a_case_needs_the_customer_and_their_words() {
    let CaseEvent::Opened(mut o) = opened() else {
        unreachable!()
    };
    o.text = "  ".into();
    given::<CaseAggregate>([])
        .when(CaseCommand::Open(o.clone()))
        .then_err_matching(
            "text required",
            |e| matches!(e, CaseError::Invalid { field, .. } if field == "text"),
        );
    o.text = "x".into();
    o.links.customer_id = String::new();
    given::<CaseAggregate>([]).when(CaseCommand::Open(o)).then_err_matching(
        "customer required",
        |e| matches!(e, CaseError::Invalid { field, .. } if field == "customer_id"),
    );
}

#[test]
fn nothing_happens_to_a_case_never_opened() {
    given::<CaseAggregate>([])
        .when(CaseCommand::Resume { by: "x".into(), at: T0 })
        .then_err(CaseError::NotFound);
}

#[test]
fn a_supervisor_overrides_the_severity_with_a_reason() {
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::OverrideSeverity {
            severity: Severity::P1,
            reason: "customer is a journalist".into(),
            by: "supervisor:qian".into(),
            at: T0,
        })
        .then([CaseEvent::SeverityOverridden {
            previous: Severity::P2,
            severity: Severity::P1,
            reason: "customer is a journalist".into(),
            by: "supervisor:qian".into(),
            at: T0,
        }]);
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::OverrideSeverity {
            severity: Severity::P1,
            reason: "".into(),
            by: "s".into(),
            at: T0,
        })
        .then_err_matching(
            "reason",
            |e| matches!(e, CaseError::Invalid { field, .. } if field == "reason"),
        );
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::OverrideSeverity {
            severity: Severity::P2,
            reason: "same".into(),
            by: "s".into(),
            at: T0,
        })
        .then_err(CaseError::SameSeverity("P2"));
}

#[test]
fn assigning_the_same_agent_again_changes_nothing() {
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::Assign {
            agent: "desk:li".into(),
            by: "desk:li".into(),
            at: T0,
        })
        .then([assigned()]);
    given::<CaseAggregate>([opened(), assigned()])
        .when(CaseCommand::Assign {
            agent: "desk:li".into(),
            by: "x".into(),
            at: T0,
        })
        .then_nothing();
}

#[test]
fn investigation_needs_an_agent() {
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::StartInvestigation { by: "x".into(), at: T0 })
        .then_err(CaseError::NotAssigned);
    let s = given::<CaseAggregate>([opened(), assigned()])
        .when(CaseCommand::StartInvestigation { by: "x".into(), at: T0 })
        .then([CaseEvent::InvestigationStarted { by: "x".into(), at: T0 }]);
    assert_eq!(s.status, Status::Investigating);
}

#[test]
fn the_first_response_is_recorded_once() {
    let first = CaseEvent::FirstResponseRecorded {
        note: "called back".into(),
        by: "desk:li".into(),
        at: T0 + Duration::minutes(30),
    };
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::RecordFirstResponse {
            note: "called back".into(),
            by: "desk:li".into(),
            at: T0 + Duration::minutes(30),
        })
        .then([first.clone()]);
    given::<CaseAggregate>([opened(), first])
        .when(CaseCommand::RecordFirstResponse {
            note: "again".into(),
            by: "desk:li".into(),
            at: T0 + Duration::hours(1),
        })
        .then_err(CaseError::FirstResponseRecorded(T0 + Duration::minutes(30)));
}

#[test]
fn waiting_stops_the_clocks_and_resuming_starts_them() {
    let wait = CaseEvent::WaitingStarted {
        on: WaitingOn::Customer,
        reason: "photos of the receipt".into(),
        by: "desk:li".into(),
        at: T0 + Duration::hours(1),
    };
    let s = given::<CaseAggregate>([opened()])
        .when(CaseCommand::Wait {
            on: WaitingOn::Customer,
            reason: "photos of the receipt".into(),
            by: "desk:li".into(),
            at: T0 + Duration::hours(1),
        })
        .then([wait.clone()]);
    assert_eq!(s.status, Status::Waiting(WaitingOn::Customer));
    assert!(!s.run(ClockKind::Resolution).running());
    given::<CaseAggregate>([opened(), wait.clone()])
        .when(CaseCommand::Wait {
            on: WaitingOn::ThirdParty,
            reason: "insurer".into(),
            by: "x".into(),
            at: T0,
        })
        .then_err(CaseError::Waiting("the customer"));
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::Resume { by: "x".into(), at: T0 })
        .then_err(CaseError::NotWaiting);
    let s = given::<CaseAggregate>([opened(), wait])
        .when(CaseCommand::Resume {
            by: "x".into(),
            at: T0 + Duration::hours(5),
        })
        .then([CaseEvent::Resumed {
            by: "x".into(),
            at: T0 + Duration::hours(5),
        }]);
    assert_eq!(s.status, Status::Open);
    assert_eq!(s.spans.len(), 2);
    assert!(s.run(ClockKind::FirstResponse).running());
}

#[test]
fn a_waiver_must_be_of_the_cases_own_violation_and_customer() {
    let waive = |customer: &str, violation: &str| Remedy::Waive {
        customer_id: customer.into(),
        violation_id: violation.into(),
        charge_booking_id: String::new(),
        amount: None,
    };
    let resolve = |remedies| CaseCommand::Resolve {
        explanation: "ok".into(),
        remedies,
        by: "s".into(),
        at: T0,
    };
    given::<CaseAggregate>([opened()])
        .when(resolve(vec![waive("C-2", "v1")]))
        .then_err_matching(
            "customer",
            |e| matches!(e, CaseError::Invalid { field, .. } if field == "remedies[0].waive.customer_id"),
        );
    given::<CaseAggregate>([opened()])
        .when(resolve(vec![Remedy::Voucher(Fen(1000)), waive("C-1", "v9")]))
        .then_err_matching(
            "violation",
            |e| matches!(e, CaseError::Invalid { field, .. } if field == "remedies[1].waive.violation_id"),
        );
    given::<CaseAggregate>([opened()])
        .when(resolve(vec![Remedy::Refund(Fen(0))]))
        .then_err_matching(
            "amount",
            |e| matches!(e, CaseError::Invalid { field, .. } if field == "remedies[0].amount"),
        );
    let events = given::<CaseAggregate>([opened()])
        .when(resolve(vec![waive("C-1", "v1")]))
        .then_ok();
    assert!(matches!(&events[..], [CaseEvent::Resolved { case_id, .. }] if case_id == ID));
}

#[test]
fn a_resolved_case_is_closed_by_the_customer_or_by_silence_and_reopened_with_a_reason() {
    let r = resolved(T0 + Duration::hours(10));
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::Close { by: "x".into(), at: T0 })
        .then_err(CaseError::NotResolved);
    given::<CaseAggregate>([opened(), r.clone()])
        .when(CaseCommand::Close {
            by: "desk:li".into(),
            at: T0 + Duration::hours(11),
        })
        .then([CaseEvent::Closed {
            case_id: ID.into(),
            reason: CloseReason::CustomerAccepted,
            by: "desk:li".into(),
            at: T0 + Duration::hours(11),
        }]);
    let silence = Duration::days(7);
    given::<CaseAggregate>([opened(), r.clone()])
        .when(CaseCommand::AutoClose {
            silence,
            at: T0 + Duration::days(3),
        })
        .then_err(CaseError::NotSilentYet {
            resolved_at: T0 + Duration::hours(10),
            due: T0 + Duration::hours(10) + silence,
        });
    // Closed when the silence ran out (resolved at 10 h, 7 days of silence), though the scan
    // noticed a day later.
    let closed = CaseEvent::Closed {
        case_id: ID.into(),
        reason: CloseReason::Silence,
        by: "system:auto-close".into(),
        at: T0 + Duration::hours(10) + silence,
    };
    given::<CaseAggregate>([opened(), r.clone()])
        .when(CaseCommand::AutoClose {
            silence,
            at: T0 + Duration::days(8),
        })
        .then([closed.clone()]);
    // Another replica's scan after it: nothing more.
    given::<CaseAggregate>([opened(), r.clone(), closed.clone()])
        .when(CaseCommand::AutoClose {
            silence,
            at: T0 + Duration::days(8),
        })
        .then_nothing();
    given::<CaseAggregate>([opened(), r.clone(), closed.clone()])
        .when(CaseCommand::Resume { by: "x".into(), at: T0 })
        .then_err(CaseError::Closed);
    given::<CaseAggregate>([opened()])
        .when(CaseCommand::Reopen {
            reason: "x".into(),
            by: "x".into(),
            at: T0,
        })
        .then_err(CaseError::NotResolved);
    let at = T0 + Duration::days(9);
    let s = given::<CaseAggregate>([opened(), r, closed])
        .when(CaseCommand::Reopen {
            reason: "charged again".into(),
            by: "desk:li".into(),
            at,
        })
        .then([CaseEvent::Reopened {
            case_id: ID.into(),
            reason: "charged again".into(),
            by: "desk:li".into(),
            at,
        }]);
    assert_eq!(s.status, Status::Open);
    assert_eq!(s.reopened, 1);
    // It keeps the 10 h it had spent: 62 h of the 72 h left.
    let policies = Policies::embedded().unwrap();
    let policy = s.policy(&policies).unwrap().clone();
    let v = sla::view(
        &policies,
        &policy,
        &Calendar::embedded().unwrap(),
        ClockKind::Resolution,
        &s.run(ClockKind::Resolution),
        at + Duration::hours(2),
    )
    .unwrap();
    assert_eq!(v.spent, Duration::hours(12));
}

#[test]
fn a_resolved_case_takes_no_more_work_until_reopened() {
    given::<CaseAggregate>([opened(), resolved(T0)])
        .when(CaseCommand::Wait {
            on: WaitingOn::Customer,
            reason: "x".into(),
            by: "x".into(),
            at: T0,
        })
        .then_err(CaseError::Resolved);
}

#[test]
fn a_resolution_answers_the_customer_for_the_first_response_clock() {
    let s = given::<CaseAggregate>([opened(), resolved(T0 + Duration::minutes(50))])
        .state()
        .clone();
    let run = s.run(ClockKind::FirstResponse);
    assert!(run.stopped);
    assert_eq!(run.spans[0].end, Some(T0 + Duration::minutes(50)));
}

#[test]
fn the_clocks_raise_at_risk_then_breach_with_an_escalation_each_once() {
    // P2: first response 4 h (at risk at 3 h 12 m).
    given::<CaseAggregate>([opened()])
        .when(raise(
            ClockKind::FirstResponse,
            Threshold::AtRisk,
            T0 + Duration::hours(3),
        ))
        .then_err(CaseError::NotReached {
            clock: "first_response",
            threshold: "at_risk",
        });
    // Noticed at 3 h 20 m; raised as of when it was reached (3 h 12 m), with what was spent then.
    let at = T0 + Duration::hours(3) + Duration::minutes(20);
    let risk = CaseEvent::SlaAtRisk(SlaMark {
        clock: ClockKind::FirstResponse,
        policy: "P2".into(),
        target: Duration::hours(4),
        spent: Duration::minutes(192),
        reached_at: T0 + Duration::minutes(192),
        at: T0 + Duration::minutes(192),
    });
    given::<CaseAggregate>([opened()])
        .when(raise(ClockKind::FirstResponse, Threshold::AtRisk, at))
        .then([risk.clone()]);
    given::<CaseAggregate>([opened(), risk.clone()])
        .when(raise(
            ClockKind::FirstResponse,
            Threshold::AtRisk,
            at + Duration::minutes(1),
        ))
        .then_nothing();
    let late = T0 + Duration::hours(5);
    let events = given::<CaseAggregate>([opened(), risk.clone()])
        .when(raise(ClockKind::FirstResponse, Threshold::Breached, late))
        .then_ok();
    assert!(matches!(&events[0], CaseEvent::SlaBreached(m) if m.reached_at == T0 + Duration::hours(4)));
    assert!(
        matches!(&events[1], CaseEvent::Escalated { to, clock: ClockKind::FirstResponse, .. } if to == "supervisor")
    );
    let mut history = vec![opened(), risk];
    history.extend(events);
    given::<CaseAggregate>(history)
        .when(raise(ClockKind::FirstResponse, Threshold::Breached, late))
        .then_nothing();
}

#[test]
fn a_stopped_clock_raises_nothing() {
    let first = CaseEvent::FirstResponseRecorded {
        note: "called".into(),
        by: "x".into(),
        at: T0 + Duration::hours(1),
    };
    given::<CaseAggregate>([opened(), first])
        .when(raise(
            ClockKind::FirstResponse,
            Threshold::Breached,
            T0 + Duration::hours(9),
        ))
        .then_err(CaseError::ClockStopped("first_response"));
}

#[test]
fn a_clock_stopped_after_its_target_is_breached_all_the_same() {
    // First response due within 4 h (billing, P2); answered at 5 h, before any scan noticed.
    let late = CaseEvent::FirstResponseRecorded {
        note: "called back".into(),
        by: "x".into(),
        at: T0 + Duration::hours(5),
    };
    let s = given::<CaseAggregate>([opened(), late.clone()]).state().clone();
    let policies = Policies::embedded().unwrap();
    let cal = Calendar::embedded().unwrap();
    assert_eq!(
        s.due_at(&policies, &cal, Duration::days(7), T0 + Duration::hours(6))
            .unwrap(),
        vec![Due::Sla(ClockKind::FirstResponse, Threshold::Breached)],
        "the breach is due at once; nothing is at risk any more"
    );
    let events = given::<CaseAggregate>([opened(), late.clone()])
        .when(raise(
            ClockKind::FirstResponse,
            Threshold::Breached,
            T0 + Duration::hours(6),
        ))
        .then_ok();
    assert_eq!(events.len(), 1, "breached, not escalated: {events:?}");
    assert!(matches!(&events[0], CaseEvent::SlaBreached(m) if m.reached_at == T0 + Duration::hours(4)));
    given::<CaseAggregate>([opened(), late.clone()])
        .when(raise(
            ClockKind::FirstResponse,
            Threshold::AtRisk,
            T0 + Duration::hours(6),
        ))
        .then_err(CaseError::ClockStopped("first_response"));
    let mut history = vec![opened(), late];
    history.extend(events);
    let s = given::<CaseAggregate>(history.clone()).state().clone();
    assert_eq!(
        s.due_at(&policies, &cal, Duration::days(7), T0 + Duration::hours(6))
            .unwrap(),
        Vec::new(),
        "raised once"
    );
    given::<CaseAggregate>(history)
        .when(raise(
            ClockKind::FirstResponse,
            Threshold::Breached,
            T0 + Duration::hours(7),
        ))
        .then_nothing();
}

#[test]
fn a_paused_clock_reaches_its_thresholds_later_by_the_wait() {
    let wait = CaseEvent::WaitingStarted {
        on: WaitingOn::ThirdParty,
        reason: "authority".into(),
        by: "x".into(),
        at: T0 + Duration::hours(1),
    };
    let resume = CaseEvent::Resumed {
        by: "x".into(),
        at: T0 + Duration::hours(21),
    };
    let s = given::<CaseAggregate>([opened(), wait.clone()]).state().clone();
    let policies = Policies::embedded().unwrap();
    let cal = Calendar::embedded().unwrap();
    assert_eq!(
        s.next_due(&policies, &cal, Duration::days(7)).unwrap(),
        None,
        "nothing runs while it waits"
    );
    given::<CaseAggregate>([opened(), wait.clone()])
        .when(raise(
            ClockKind::FirstResponse,
            Threshold::Breached,
            T0 + Duration::hours(10),
        ))
        .then_err(CaseError::NotReached {
            clock: "first_response",
            threshold: "breached",
        });
    let s = given::<CaseAggregate>([opened(), wait, resume]).state().clone();
    // 1 h before the wait, 20 h of waiting: at risk at 21 h + 2 h 12 m.
    assert_eq!(
        s.next_due(&policies, &cal, Duration::days(7)).unwrap(),
        Some((
            T0 + Duration::hours(23) + Duration::minutes(12),
            Due::Sla(ClockKind::FirstResponse, Threshold::AtRisk)
        ))
    );
    let due = s
        .due_at(&policies, &cal, Duration::days(7), T0 + Duration::hours(30))
        .unwrap();
    assert_eq!(
        due,
        vec![
            Due::Sla(ClockKind::FirstResponse, Threshold::AtRisk),
            Due::Sla(ClockKind::FirstResponse, Threshold::Breached),
        ]
    );
}

#[test]
fn a_resolved_case_is_due_to_close_after_the_silence() {
    let s = given::<CaseAggregate>([opened(), resolved(T0 + Duration::hours(2))])
        .state()
        .clone();
    let policies = Policies::embedded().unwrap();
    let cal = Calendar::embedded().unwrap();
    assert_eq!(
        s.next_due(&policies, &cal, Duration::days(7)).unwrap(),
        Some((T0 + Duration::hours(2) + Duration::days(7), Due::AutoClose))
    );
}

#[test]
fn every_case_event_round_trips_through_its_bytes() {
    let mark = SlaMark {
        clock: ClockKind::Resolution,
        policy: "P2".into(),
        target: Duration::hours(72),
        spent: Duration::hours(58),
        reached_at: T0,
        at: T0 + Duration::minutes(1),
    };
    assert_round_trip::<CaseAggregate>([
        opened(),
        CaseEvent::SeverityOverridden {
            previous: Severity::P2,
            severity: Severity::P1,
            reason: "r".into(),
            by: "s".into(),
            at: T0,
        },
        assigned(),
        CaseEvent::FirstResponseRecorded {
            note: "n".into(),
            by: "b".into(),
            at: T0,
        },
        CaseEvent::InvestigationStarted { by: "b".into(), at: T0 },
        CaseEvent::WaitingStarted {
            on: WaitingOn::ThirdParty,
            reason: "r".into(),
            by: "b".into(),
            at: T0,
        },
        CaseEvent::Resumed { by: "b".into(), at: T0 },
        CaseEvent::RootCauseSet {
            root_cause: "pricing_error".into(),
            note: "n".into(),
            by: "b".into(),
            at: T0,
        },
        CaseEvent::Resolved {
            case_id: ID.into(),
            explanation: "e".into(),
            remedies: vec![
                Remedy::Waive {
                    customer_id: "C-1".into(),
                    violation_id: "v1".into(),
                    charge_booking_id: "b-1".into(),
                    amount: Some(Fen(5000)),
                },
                Remedy::Voucher(Fen(2000)),
                Remedy::Refund(Fen(300)),
            ],
            by: "s".into(),
            at: T0,
        },
        CaseEvent::Closed {
            case_id: ID.into(),
            reason: CloseReason::Silence,
            by: "system".into(),
            at: T0,
        },
        CaseEvent::Reopened {
            case_id: ID.into(),
            reason: "r".into(),
            by: "b".into(),
            at: T0,
        },
        CaseEvent::SlaAtRisk(mark.clone()),
        CaseEvent::SlaBreached(mark),
        CaseEvent::Escalated {
            clock: ClockKind::FirstResponse,
            to: "supervisor".into(),
            reason: "r".into(),
            at: T0,
        },
    ]);
}

#[test]
fn a_case_closed_before_its_reason_was_recorded_reads_as_accepted() {
    use prost::Message as _;
    use rentops_kernel::EventCodec as _;
    let old = rentops_proto::complaint::CaseClosed {
        case_id: ID.into(),
        at: Some(rentops_proto::timestamp::to_timestamp(T0)),
        ..Default::default()
    };
    let e = CaseAggregate::decode(codec::CLOSED, &old.encode_to_vec()).unwrap();
    assert!(matches!(
        e,
        CaseEvent::Closed {
            reason: CloseReason::CustomerAccepted,
            ..
        }
    ));
}

#[test]
fn a_case_history_stays_in_time_order() {
    let answered = CaseEvent::FirstResponseRecorded {
        note: "called".into(),
        by: "desk:li".into(),
        at: T0 + Duration::minutes(30),
    };
    let assign = |at| CaseCommand::Assign {
        agent: "desk:wang".into(),
        by: "desk:li".into(),
        at,
    };
    // Before the latest change (the first response at 30 min): refused, naming both times.
    given::<CaseAggregate>([opened(), answered.clone()])
        .when(assign(T0 + Duration::minutes(10)))
        .then_err(CaseError::BeforeLatestChange {
            at: T0 + Duration::minutes(10),
            latest: T0 + Duration::minutes(30),
        });
    // Before the opening itself, on a case that has nothing else yet.
    given::<CaseAggregate>([opened()])
        .when(assign(T0 - Duration::minutes(1)))
        .then_err(CaseError::BeforeLatestChange {
            at: T0 - Duration::minutes(1),
            latest: T0,
        });
    // At the same instant, or after: accepted, however long ago both were.
    given::<CaseAggregate>([opened(), answered.clone()])
        .when(assign(T0 + Duration::minutes(30)))
        .then_ok();
    // A command that changes nothing stays a no-op whatever its time.
    given::<CaseAggregate>([opened(), assigned(), answered.clone()])
        .when(CaseCommand::Assign {
            agent: "desk:li".into(),
            by: "desk:li".into(),
            at: T0,
        })
        .then_nothing();
    // A back-dated sequence entered all at once: open, answer at 30 min, resolve at 2 h.
    let s = given::<CaseAggregate>([opened(), answered, resolved(T0 + Duration::hours(2))])
        .state()
        .clone();
    assert_eq!(s.latest_at, Some(T0 + Duration::hours(2)));
    assert_eq!(
        s.run(ClockKind::FirstResponse).spans[0].end,
        Some(T0 + Duration::minutes(30))
    );
}

#[test]
fn the_scan_raises_a_threshold_reached_in_the_past_when_it_was_reached_and_in_order() {
    // A P2 case opened 10 days before the scan sees it, never answered: first response at risk
    // at 3 h 12 m, breached at 4 h.
    let now = T0 + Duration::days(10);
    let risk = given::<CaseAggregate>([opened()])
        .when(raise(ClockKind::FirstResponse, Threshold::AtRisk, now))
        .then_ok();
    assert!(matches!(&risk[..], [CaseEvent::SlaAtRisk(m)] if m.at == T0 + Duration::minutes(192)));
    let mut history = vec![opened()];
    history.extend(risk);
    let breach = given::<CaseAggregate>(history.clone())
        .when(raise(ClockKind::FirstResponse, Threshold::Breached, now))
        .then_ok();
    assert!(
        matches!(&breach[..], [CaseEvent::SlaBreached(m), CaseEvent::Escalated { at, .. }]
            if m.at == T0 + Duration::hours(4) && m.spent == Duration::hours(4) && *at == T0 + Duration::hours(4)),
        "{breach:?}"
    );
    history.extend(breach);
    // Later work entered late is accepted after the breach, refused before it.
    let answer = |at| CaseCommand::RecordFirstResponse {
        note: "called back".into(),
        by: "desk:li".into(),
        at,
    };
    given::<CaseAggregate>(history.clone())
        .when(answer(T0 + Duration::hours(5)))
        .then_ok();
    given::<CaseAggregate>(history)
        .when(answer(T0 + Duration::hours(3)))
        .then_err(CaseError::BeforeLatestChange {
            at: T0 + Duration::hours(3),
            latest: T0 + Duration::hours(4),
        });
    // A threshold reached before a later change entered first is raised as of that change.
    let assigned_late = CaseEvent::Assigned {
        agent: "desk:li".into(),
        by: "desk:li".into(),
        at: T0 + Duration::hours(6),
    };
    let events = given::<CaseAggregate>([opened(), assigned_late])
        .when(raise(ClockKind::FirstResponse, Threshold::AtRisk, now))
        .then_ok();
    assert!(
        matches!(&events[..], [CaseEvent::SlaAtRisk(m)]
            if m.reached_at == T0 + Duration::minutes(192) && m.at == T0 + Duration::hours(6)),
        "{events:?}"
    );
}
