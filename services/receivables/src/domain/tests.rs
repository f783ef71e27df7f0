//! The violation's rules, given / when / then, and every event through its bytes.

use rentops_kernel::testing::{assert_round_trip, given};
use rentops_kernel::{Fen, Plate};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::ladder::{Ladder, Step};
use super::violation::*;

fn record(handled: bool) -> Record {
    Record {
        plate: Plate::parse("沪AD12345").unwrap(),
        plate_kind: "52".into(),
        offence_at: datetime!(2026-11-02 09:30 +08:00),
        place: "延安高架 路 100号".into(),
        offence_code: "1625".into(),
        offence_text: "违反禁令标志指示".into(),
        fine: Fen(20_000),
        points: 3,
        authority_ref: String::new(),
        source: "vendor-a".into(),
        received_at: datetime!(2026-11-20 10:00 UTC),
        handled,
    }
}

fn renter(at: OffsetDateTime) -> Match {
    Match {
        responsibility: Responsibility::Renter,
        order_id: "0190a1a2-0000-7000-8000-000000000001".into(),
        customer_id: "C-1".into(),
        customer_phone: "13800000000".into(),
        city: "SHA".into(),
        vehicle_id: "V1".into(),
        person_id: String::new(),
        matched_at: at,
        resolved_by: String::new(),
        reason: String::new(),
    }
}

fn recorded() -> ViolationEvent {
    let r = record(false);
    ViolationEvent::Recorded {
        id: r.violation_id(),
        record: r,
    }
}

const MATCHED_AT: OffsetDateTime = datetime!(2026-11-20 10:00 UTC);

fn step(step: Step, now: OffsetDateTime) -> ViolationCommand {
    ViolationCommand::TakeStep {
        step,
        now,
        ladder: Ladder::default(),
        charge: None,
        appeal_until: None,
    }
}

#[test]
fn the_same_record_twice_is_one_violation_whatever_its_spacing_or_spelling() {
    let a = record(false);
    let mut b = record(false);
    b.plate = Plate::parse("沪A·D12345").unwrap();
    b.place = "延安高架路100号".into();
    b.source = "vendor-b".into();
    assert_eq!(a.violation_id(), b.violation_id());
    let mut other = record(false);
    other.offence_code = "1345".into();
    assert_ne!(a.violation_id(), other.violation_id());
    // With the authority's number, that number alone is the identity.
    let mut c = record(false);
    c.authority_ref = "3101234567890".into();
    let mut d = record(false);
    d.authority_ref = "3101234567890".into();
    d.place = "elsewhere".into();
    assert_eq!(c.violation_id(), d.violation_id());

    given::<ViolationAggregate>([recorded()])
        .when(ViolationCommand::Record { record: Box::new(b) })
        .then_nothing();
}

#[test]
fn a_later_record_saying_handled_closes_it_and_stops_the_ladder() {
    let mut later = record(true);
    later.received_at = datetime!(2026-11-25 10:00 UTC);
    let state = given::<ViolationAggregate>([recorded(), ViolationEvent::Matched(renter(MATCHED_AT))])
        .when(ViolationCommand::Record {
            record: Box::new(later),
        })
        .then([ViolationEvent::Handled {
            at: datetime!(2026-11-25 10:00 UTC),
            source: "vendor-a".into(),
        }]);
    assert_eq!(state.status(), Status::Handled);
    assert_eq!(state.next_step(&Ladder::default()), None);
    given::<ViolationAggregate>([
        recorded(),
        ViolationEvent::Handled {
            at: MATCHED_AT,
            source: "x".into(),
        },
    ])
    .when(ViolationCommand::Record {
        record: Box::new(record(true)),
    })
    .then_nothing();
}

#[test]
fn the_ladder_runs_from_the_notice_each_step_once_and_never_early() {
    let history = vec![recorded(), ViolationEvent::Matched(renter(MATCHED_AT))];
    // The notice is due at once.
    let events = given::<ViolationAggregate>(history.clone())
        .when(step(Step::Notice, MATCHED_AT + Duration::minutes(1)))
        .then_ok();
    let ViolationEvent::StepTaken(notice) = &events[0] else {
        panic!("{events:?}")
    };
    // Counted from when the notice fell due (the match), not from when the scan took it.
    assert_eq!(notice.deadline, Some(MATCHED_AT + Duration::days(15)));
    assert_eq!(notice.notices.len(), 2);
    assert!(notice.notices[0].text.contains("200.00"), "{}", notice.notices[0].text);
    let mut history = history;
    history.extend(events);
    // The same step again (another replica): nothing.
    given::<ViolationAggregate>(history.clone())
        .when(step(Step::Notice, MATCHED_AT + Duration::minutes(2)))
        .then_nothing();
    // The reminder is due on D+3 from the match (the notice was taken a minute late), not before.
    let d3 = MATCHED_AT + Duration::days(3);
    given::<ViolationAggregate>(history.clone())
        .when(step(Step::Reminder, d3 - Duration::seconds(1)))
        .then_err(ViolationError::NotDue {
            step: Step::Reminder,
            due: d3,
        });
    // Skipping a step is refused.
    given::<ViolationAggregate>(history.clone())
        .when(step(Step::Deadline, d3 + Duration::days(20)))
        .then_err_matching("not next", |e| matches!(e, ViolationError::NotNext { .. }));
    given::<ViolationAggregate>(history)
        .when(step(Step::Reminder, d3))
        .then_ok();
}

#[test]
fn the_charge_step_carries_its_booking() {
    let mut state = given::<ViolationAggregate>([recorded(), ViolationEvent::Matched(renter(MATCHED_AT))])
        .state()
        .clone();
    let ladder = Ladder::default();
    let mut now = MATCHED_AT;
    while let Some((next, due)) = state.next_step(&ladder) {
        now = now.max(due);
        let charge = (next == Step::Charge).then(|| ("booking-1".to_owned(), Fen(25_000)));
        let events = decide(
            &state,
            &ViolationCommand::TakeStep {
                step: next,
                now,
                ladder: ladder.clone(),
                charge: charge.clone(),
                appeal_until: None,
            },
        )
        .unwrap();
        if next == Step::Charge {
            assert_eq!(
                decide(
                    &state,
                    &ViolationCommand::TakeStep {
                        step: next,
                        now,
                        ladder: ladder.clone(),
                        charge: None,
                        appeal_until: None,
                    }
                ),
                Err(ViolationError::ChargeWithoutBooking)
            );
        }
        state = events.iter().fold(state, evolve);
    }
    assert_eq!(state.status(), Status::Collections);
    assert_eq!(state.charge_booking_id(), Some("booking-1"));
    assert_eq!(now, MATCHED_AT + Duration::days(60));
}

#[test]
fn a_late_event_rematches_before_the_charge_and_restarts_the_ladder_for_the_new_renter() {
    let notice = ViolationEvent::StepTaken(StepTaken {
        step: Step::Notice,
        due_at: MATCHED_AT,
        taken_at: MATCHED_AT,
        notices: Vec::new(),
        deadline: Some(MATCHED_AT + Duration::days(15)),
        charge_booking_id: String::new(),
        charged: Fen::ZERO,
        points_appeal_until: None,
    });
    let mut other = renter(MATCHED_AT + Duration::days(2));
    other.order_id = "0190a1a2-0000-7000-8000-000000000002".into();
    other.customer_id = "C-2".into();
    let state = given::<ViolationAggregate>([recorded(), ViolationEvent::Matched(renter(MATCHED_AT)), notice])
        .when(ViolationCommand::AutoMatch {
            outcome: Ok(other.clone()),
        })
        .then([ViolationEvent::Matched(other.clone())]);
    assert!(state.steps.is_empty());
    assert_eq!(
        state.next_step(&Ladder::default()),
        Some((Step::Notice, other.matched_at))
    );
    // The same answer again: nothing.
    given::<ViolationAggregate>([recorded(), ViolationEvent::Matched(other.clone())])
        .when(ViolationCommand::AutoMatch {
            outcome: Ok(Match {
                matched_at: MATCHED_AT + Duration::days(9),
                ..other.clone()
            }),
        })
        .then_nothing();
    // A person's resolution is never overridden by the automatic match.
    let by_hand = Match {
        resolved_by: "supervisor-1".into(),
        reason: "confirmed on the phone".into(),
        ..other
    };
    given::<ViolationAggregate>([recorded(), ViolationEvent::Matched(by_hand)])
        .when(ViolationCommand::AutoMatch {
            outcome: Ok(renter(MATCHED_AT)),
        })
        .then_nothing();
}

#[test]
fn only_an_exception_is_resolved_by_a_person_with_a_reason() {
    let unmatched = ViolationEvent::Unmatched(Unmatched {
        reason: UnmatchedReason::NoHire,
        vehicle_id: "V1".into(),
        detail: String::new(),
        at: MATCHED_AT,
    });
    let resolve = |reason: &str| ViolationCommand::Resolve {
        resolution: Resolution::BadData,
        by: "desk-1".into(),
        reason: reason.into(),
        at: MATCHED_AT,
    };
    given::<ViolationAggregate>([recorded(), unmatched.clone()])
        .when(resolve(" "))
        .then_err(ViolationError::Invalid {
            field: "reason",
            message: "required".into(),
        });
    let state = given::<ViolationAggregate>([recorded(), unmatched])
        .when(resolve("a duplicate plate in the feed"))
        .then_ok();
    assert_eq!(state.len(), 1);
    given::<ViolationAggregate>([recorded(), ViolationEvent::Matched(renter(MATCHED_AT))])
        .when(resolve("x"))
        .then_err(ViolationError::NotAnException { status: "OPEN" });
    given::<ViolationAggregate>([])
        .when(resolve("x"))
        .then_err(ViolationError::NotFound);
}

#[test]
fn every_event_round_trips_through_its_bytes() {
    let step = StepTaken {
        step: Step::Charge,
        due_at: MATCHED_AT,
        taken_at: MATCHED_AT + Duration::hours(1),
        notices: vec![Notice {
            channel: NoticeChannel::Sms,
            customer_id: "C-1".into(),
            phone: "13800000000".into(),
            template: "t".into(),
            text: "文本".into(),
        }],
        deadline: None,
        charge_booking_id: "b".into(),
        charged: Fen(25_000),
        points_appeal_until: Some(MATCHED_AT + Duration::days(7)),
    };
    assert_round_trip::<ViolationAggregate>([
        recorded(),
        ViolationEvent::Matched(renter(MATCHED_AT)),
        ViolationEvent::Unmatched(Unmatched {
            reason: UnmatchedReason::UnknownPlate,
            vehicle_id: String::new(),
            detail: "d".into(),
            at: MATCHED_AT,
        }),
        ViolationEvent::Voided {
            by: "desk".into(),
            reason: "bad".into(),
            at: MATCHED_AT,
        },
        ViolationEvent::Handled {
            at: MATCHED_AT,
            source: "s".into(),
        },
        ViolationEvent::StepTaken(step),
        ViolationEvent::Disputed {
            case_id: "CASE-1".into(),
            at: MATCHED_AT,
        },
        ViolationEvent::DisputeEnded {
            case_id: "CASE-1".into(),
            at: MATCHED_AT,
        },
        ViolationEvent::Waived {
            case_id: "CASE-1".into(),
            at: MATCHED_AT,
            by: "supervisor".into(),
        },
    ]);
}

#[test]
fn a_dispute_stops_the_ladder_and_its_days_come_later_by_the_time_it_stood_still() {
    let history = vec![recorded(), ViolationEvent::Matched(renter(MATCHED_AT))];
    let ladder = Ladder::default();
    let notice = given::<ViolationAggregate>(history.clone())
        .when(step(Step::Notice, MATCHED_AT))
        .then_ok();
    let mut state = history.iter().chain(notice.iter()).fold(Violation::default(), evolve);
    let opened = decide(
        &state,
        &ViolationCommand::Dispute {
            case_id: "K1".into(),
            at: MATCHED_AT + Duration::days(1),
        },
    )
    .unwrap();
    state = opened.iter().fold(state, evolve);
    assert_eq!(state.next_step(&ladder), None, "it stands still");
    // The same case again changes nothing; a second case holds it too.
    assert!(
        decide(
            &state,
            &ViolationCommand::Dispute {
                case_id: "K1".into(),
                at: MATCHED_AT
            }
        )
        .unwrap()
        .is_empty()
    );
    for e in [
        ViolationEvent::Disputed {
            case_id: "K2".into(),
            at: MATCHED_AT + Duration::days(2),
        },
        ViolationEvent::DisputeEnded {
            case_id: "K1".into(),
            at: MATCHED_AT + Duration::days(3),
        },
    ] {
        state = evolve(state, &e);
    }
    assert_eq!(state.next_step(&ladder), None, "K2 is still open");
    state = evolve(
        state,
        &ViolationEvent::DisputeEnded {
            case_id: "K2".into(),
            at: MATCHED_AT + Duration::days(5),
        },
    );
    assert_eq!(
        state.next_step(&ladder),
        Some((Step::Reminder, MATCHED_AT + Duration::days(3) + Duration::days(4))),
        "four days standing still"
    );
    // Waived before the charge: closed; after the charge the waiver is the ledger's.
    let waived = decide(
        &state,
        &ViolationCommand::Waive {
            case_id: "K2".into(),
            at: MATCHED_AT,
            by: "s".into(),
        },
    )
    .unwrap();
    assert_eq!(waived.iter().fold(state, evolve).status(), Status::Waived);
}
