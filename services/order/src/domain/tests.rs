//! The order's rules as given / when / then.

use rentops_kernel::testing::{assert_round_trip, given};
use rentops_kernel::{DecodeError, EventCodec};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use super::codec::encode_event;
use super::order::{BookingChanges, Order, OrderAggregate, OrderCommand, OrderError, OrderEvent};
use super::types::*;

type G = OrderAggregate;

fn plate(text: &str) -> Plate {
    Plate::parse(text).unwrap()
}

const PLACED: OffsetDateTime = datetime!(2026-12-01 09:00 UTC);
const PICKUP: OffsetDateTime = datetime!(2026-12-05 02:00 UTC);
const RETURN: OffsetDateTime = datetime!(2026-12-08 02:00 UTC);

fn id() -> Uuid {
    order_id_for(Channel::App, "", "APP-1")
}

/// A booking for the app's order `APP-1`; other tests start from it too.
pub(crate) fn booking() -> Booking {
    Booking {
        channel: Channel::App,
        partner_code: String::new(),
        channel_order_ref: "APP-1".into(),
        customer: Customer {
            customer_id: "C1".into(),
            name: "王芳".into(),
            phone: "13800000000".into(),
        },
        city: CityCode::parse("SHA").unwrap(),
        pickup_location: Location::Station("PVG".into()),
        pickup_at: PICKUP,
        return_location: Location::Station("SHA".into()),
        return_at: RETURN,
        model: VehicleModel::Es6,
        add_ons: vec!["child-seat".into()],
        price: Fen(120_000),
        rental_deposit: Fen(500_000),
        violation_deposit: Fen(200_000),
        cover: CoverTier::Full,
        notes: String::new(),
    }
}

fn place() -> OrderCommand {
    OrderCommand::Place {
        order_id: id(),
        booking: booking(),
        placed_at: PLACED,
        pre_verified: false,
        policy: ContactPolicy::default(),
    }
}

fn placed() -> OrderEvent {
    OrderEvent::Placed {
        order_id: id(),
        booking: booking(),
        placed_at: PLACED,
        pre_verified: false,
        contact_due_at: PLACED + time::Duration::hours(2),
    }
}

fn call(outcome: ContactOutcome, at: OffsetDateTime) -> OrderEvent {
    OrderEvent::ContactAttemptRecorded {
        attempted_at: at,
        outcome,
        agent: "li".into(),
        notes: String::new(),
        call_back_at: None,
        next_contact_at: at,
    }
}

fn record_call(outcome: ContactOutcome, at: OffsetDateTime) -> OrderCommand {
    OrderCommand::RecordContactAttempt {
        at,
        outcome,
        agent: "li".into(),
        notes: String::new(),
        call_back_at: None,
        policy: ContactPolicy::default(),
    }
}

fn confirmed() -> OrderEvent {
    OrderEvent::Confirmed {
        confirmed_at: PLACED + time::Duration::hours(1),
        by_pre_verification: false,
        notes: String::new(),
    }
}

fn handover(at: OffsetDateTime, km: i64) -> Handover {
    Handover {
        at,
        vehicle_id: "V1".into(),
        plate: Some(plate("沪A·D12345")),
        odometer_km: km,
        charge_percent: 90,
        damage_noted: String::new(),
        location: None,
        planned_vehicle_id: None,
    }
}

#[test]
fn placing_an_order_sets_the_contact_deadline_two_hours_out() {
    given::<G>([]).when(place()).then(vec![placed()]);
}

#[test]
fn an_order_for_a_pickup_within_24_hours_must_be_contacted_at_once() {
    let mut b = booking();
    b.pickup_at = PLACED + time::Duration::hours(5);
    let cmd = OrderCommand::Place {
        order_id: id(),
        booking: b.clone(),
        placed_at: PLACED,
        pre_verified: false,
        policy: ContactPolicy::default(),
    };
    let events = given::<G>([]).when(cmd).then_ok();
    assert!(matches!(&events[..], [OrderEvent::Placed { contact_due_at, .. }] if *contact_due_at == PLACED));
}

#[test]
fn placing_the_same_order_again_changes_nothing() {
    given::<G>([placed()]).when(place()).then(vec![]);
}

#[test]
fn placing_another_order_under_the_same_channel_reference_is_refused() {
    let mut b = booking();
    b.price = Fen(1);
    let cmd = OrderCommand::Place {
        order_id: id(),
        booking: b,
        placed_at: PLACED,
        pre_verified: false,
        policy: ContactPolicy::default(),
    };
    given::<G>([placed()])
        .when(cmd)
        .then_err(OrderError::AlreadyPlacedDifferently(id()));
}

#[test]
fn the_natural_key_gives_the_same_id_every_time_and_different_ids_per_channel() {
    assert_eq!(order_id_for(Channel::App, "", "X"), order_id_for(Channel::App, "", "X"));
    assert_ne!(order_id_for(Channel::App, "", "X"), order_id_for(Channel::Web, "", "X"));
    assert_ne!(
        order_id_for(Channel::Partner, "CTRIP", "X"),
        order_id_for(Channel::Partner, "FLIGGY", "X")
    );
}

#[test]
fn an_order_cannot_be_confirmed_before_the_customer_was_reached() {
    let at = PLACED + time::Duration::minutes(30);
    given::<G>([placed()])
        .when(OrderCommand::Confirm {
            at,
            notes: String::new(),
        })
        .then_err(OrderError::NotReached);
    given::<G>([placed(), call(ContactOutcome::NoAnswer, at)])
        .when(OrderCommand::Confirm {
            at,
            notes: String::new(),
        })
        .then_err(OrderError::NotReached);
}

#[test]
fn a_reached_call_allows_confirmation() {
    let at = PLACED + time::Duration::hours(1);
    given::<G>([placed(), call(ContactOutcome::Reached, at)])
        .when(OrderCommand::Confirm {
            at,
            notes: String::new(),
        })
        .then(vec![confirmed()]);
}

#[test]
fn a_pre_verifying_channel_may_confirm_without_a_call() {
    let OrderEvent::Placed {
        order_id,
        booking,
        placed_at,
        contact_due_at,
        ..
    } = placed()
    else {
        unreachable!()
    };
    let pre = OrderEvent::Placed {
        order_id,
        booking,
        placed_at,
        pre_verified: true,
        contact_due_at,
    };
    let at = PLACED + time::Duration::hours(1);
    given::<G>([pre])
        .when(OrderCommand::Confirm {
            at,
            notes: String::new(),
        })
        .then(vec![OrderEvent::Confirmed {
            confirmed_at: at,
            by_pre_verification: true,
            notes: String::new(),
        }]);
}

#[test]
fn no_answer_schedules_a_retry_and_call_back_needs_a_time() {
    let at = PLACED + time::Duration::minutes(10);
    let events = given::<G>([placed()])
        .when(record_call(ContactOutcome::NoAnswer, at))
        .then_ok();
    assert!(
        matches!(&events[..], [OrderEvent::ContactAttemptRecorded { next_contact_at, .. }] if *next_contact_at == at + time::Duration::minutes(30))
    );
    given::<G>([placed()])
        .when(record_call(ContactOutcome::CallBackLater, at))
        .then_err(OrderError::Invalid {
            field: "call_back_at",
            message: "required when the customer asks to be called back".into(),
        });
}

#[test]
fn the_first_contact_is_marked_overdue_once_and_only_when_due_and_not_attempted() {
    let due = PLACED + time::Duration::hours(2);
    let early = OrderCommand::MarkContactOverdue {
        now: due - time::Duration::minutes(1),
    };
    given::<G>([placed()]).when(early).then(vec![]);
    let now = due + time::Duration::minutes(1);
    let overdue = OrderEvent::ContactOverdue {
        contact_due_at: due,
        detected_at: now,
    };
    given::<G>([placed()])
        .when(OrderCommand::MarkContactOverdue { now })
        .then(vec![overdue.clone()]);
    given::<G>([placed(), overdue])
        .when(OrderCommand::MarkContactOverdue { now })
        .then(vec![]);
    given::<G>([placed(), call(ContactOutcome::NoAnswer, PLACED)])
        .when(OrderCommand::MarkContactOverdue { now })
        .then(vec![]);
}

#[test]
fn a_missed_call_back_is_marked_overdue_like_a_missed_first_call() {
    let asked = PLACED + time::Duration::minutes(30);
    let call_back = asked + time::Duration::hours(1);
    let call_back_later = OrderEvent::ContactAttemptRecorded {
        attempted_at: asked,
        outcome: ContactOutcome::CallBackLater,
        agent: "li".into(),
        notes: "call me after lunch".into(),
        call_back_at: Some(call_back),
        next_contact_at: call_back,
    };
    let history = [placed(), call_back_later.clone()];
    // Not before the promised time.
    given::<G>(history.clone())
        .when(OrderCommand::MarkContactOverdue {
            now: call_back - time::Duration::minutes(1),
        })
        .then(vec![]);
    let now = call_back + time::Duration::minutes(5);
    let overdue = OrderEvent::ContactOverdue {
        contact_due_at: call_back,
        detected_at: now,
    };
    given::<G>(history.clone())
        .when(OrderCommand::MarkContactOverdue { now })
        .then(vec![overdue.clone()]);
    // Once.
    given::<G>([placed(), call_back_later.clone(), overdue.clone()])
        .when(OrderCommand::MarkContactOverdue { now })
        .then(vec![]);
    // A new promise is a new deadline: missed too, it is marked again.
    let later = now + time::Duration::hours(2);
    let again = OrderEvent::ContactAttemptRecorded {
        attempted_at: now,
        outcome: ContactOutcome::CallBackLater,
        agent: "li".into(),
        notes: String::new(),
        call_back_at: Some(later),
        next_contact_at: later,
    };
    given::<G>([placed(), call_back_later.clone(), overdue.clone(), again])
        .when(OrderCommand::MarkContactOverdue {
            now: later + time::Duration::minutes(1),
        })
        .then(vec![OrderEvent::ContactOverdue {
            contact_due_at: later,
            detected_at: later + time::Duration::minutes(1),
        }]);
    // A retry after no answer follows no promise: no deadline; nor once the customer was reached.
    given::<G>([placed(), call(ContactOutcome::NoAnswer, asked)])
        .when(OrderCommand::MarkContactOverdue { now: later })
        .then(vec![]);
    given::<G>([placed(), call_back_later, call(ContactOutcome::Reached, now)])
        .when(OrderCommand::MarkContactOverdue { now: later })
        .then(vec![]);
}

#[test]
fn changes_are_allowed_until_pickup_and_record_only_what_changed() {
    let at = PLACED + time::Duration::hours(3);
    let changes = BookingChanges {
        model: Some(VehicleModel::Es8),
        price: Some(Fen(120_000)),
        ..Default::default()
    };
    given::<G>([placed(), call(ContactOutcome::Reached, PLACED), confirmed()])
        .when(OrderCommand::Change {
            at,
            changes,
            reason: "upgrade requested".into(),
        })
        .then(vec![OrderEvent::Changed {
            changed_at: at,
            changes: BookingChanges {
                model: Some(VehicleModel::Es8),
                ..Default::default()
            },
            reason: "upgrade requested".into(),
        }]);
    let late = OrderCommand::Change {
        at: PICKUP,
        changes: BookingChanges {
            model: Some(VehicleModel::Es8),
            ..Default::default()
        },
        reason: String::new(),
    };
    given::<G>([placed()]).when(late).then_err(OrderError::PickupPassed);
    let same = OrderCommand::Change {
        at,
        changes: BookingChanges {
            model: Some(VehicleModel::Es6),
            ..Default::default()
        },
        reason: String::new(),
    };
    given::<G>([placed()]).when(same).then_err(OrderError::NothingChanged);
    let backwards = OrderCommand::Change {
        at,
        changes: BookingChanges {
            return_at: Some(PICKUP),
            ..Default::default()
        },
        reason: String::new(),
    };
    given::<G>([placed()]).when(backwards).then_err(OrderError::Invalid {
        field: "return_at",
        message: "pickup must come before return".into(),
    });
}

#[test]
fn cancelling_is_allowed_before_pickup_only() {
    let at = PLACED + time::Duration::hours(1);
    let cancel = || OrderCommand::Cancel {
        at,
        by: CancelledBy::Customer,
        reason: "plans changed".into(),
    };
    given::<G>([placed()]).when(cancel()).then(vec![OrderEvent::Cancelled {
        cancelled_at: at,
        by: CancelledBy::Customer,
        reason: "plans changed".into(),
    }]);
    given::<G>([
        placed(),
        call(ContactOutcome::Reached, at),
        confirmed(),
        OrderEvent::PickedUp(handover(PICKUP, 1000)),
    ])
    .when(cancel())
    .then_err(OrderError::WrongStatus {
        action: "cancel",
        status: Status::PickedUp,
    });
}

#[test]
fn the_rental_runs_from_pickup_through_return_to_completion() {
    let history = [placed(), call(ContactOutcome::Reached, PLACED), confirmed()];
    given::<G>(history.clone())
        .when(OrderCommand::RecordPickup(handover(PICKUP, 1000)))
        .then(vec![OrderEvent::PickedUp(handover(PICKUP, 1000))]);
    let mut picked = history.to_vec();
    picked.push(OrderEvent::PickedUp(handover(PICKUP, 1000)));
    let back = Handover {
        at: RETURN,
        vehicle_id: String::new(),
        plate: None,
        odometer_km: 1400,
        charge_percent: 40,
        damage_noted: "scratch".into(),
        location: None,
        planned_vehicle_id: None,
    };
    let returned = given::<G>(picked.clone())
        .when(OrderCommand::RecordReturn(back.clone()))
        .then_ok();
    let state = given::<G>(picked.iter().cloned().chain(returned))
        .when(OrderCommand::Complete { at: RETURN })
        .then(vec![OrderEvent::Completed { completed_at: RETURN }]);
    let order = state.expect("placed");
    assert_eq!(order.status, Status::Completed);
    let ret = order.ret.expect("returned");
    assert_eq!(
        ret.plate,
        Some(plate("沪A·D12345")),
        "the car taken back is the car handed over"
    );
    assert_eq!(
        ret.location,
        Some(Location::Station("SHA".into())),
        "defaults to the booked return station"
    );
}

#[test]
fn the_odometer_cannot_run_backwards() {
    let history = [
        placed(),
        call(ContactOutcome::Reached, PLACED),
        confirmed(),
        OrderEvent::PickedUp(handover(PICKUP, 1000)),
    ];
    let back = Handover {
        at: RETURN,
        vehicle_id: String::new(),
        plate: None,
        odometer_km: 999,
        charge_percent: 40,
        damage_noted: String::new(),
        location: None,
        planned_vehicle_id: None,
    };
    given::<G>(history)
        .when(OrderCommand::RecordReturn(back))
        .then_err(OrderError::Invalid {
            field: "odometer_km",
            message: "999 km is less than the 1000 km of V1 read at pickup".into(),
        });
}

#[test]
fn a_no_show_is_recorded_only_after_the_pickup_time() {
    let history = [placed(), call(ContactOutcome::Reached, PLACED), confirmed()];
    given::<G>(history.clone())
        .when(OrderCommand::MarkNoShow {
            at: PICKUP - time::Duration::minutes(1),
            notes: String::new(),
        })
        .then_err(OrderError::BeforePickup { pickup_at: PICKUP });
    given::<G>(history)
        .when(OrderCommand::MarkNoShow {
            at: PICKUP,
            notes: String::new(),
        })
        .then(vec![OrderEvent::NoShow {
            recorded_at: PICKUP,
            notes: String::new(),
        }]);
}

#[test]
fn a_lapsed_order_is_no_longer_marked_overdue_and_the_desk_closes_it_as_a_no_show() {
    // The first call was due 2 h after placement, and nobody made it: overdue until pickup.
    let history = [placed()];
    given::<G>(history.clone())
        .when(OrderCommand::MarkContactOverdue {
            now: PICKUP - time::Duration::minutes(1),
        })
        .then(vec![OrderEvent::ContactOverdue {
            contact_due_at: PLACED + time::Duration::hours(2),
            detected_at: PICKUP - time::Duration::minutes(1),
        }]);
    // At the pickup time the order has lapsed: no call is owed any more.
    given::<G>(history.clone())
        .when(OrderCommand::MarkContactOverdue { now: PICKUP })
        .then(vec![]);
    // A promised call-back after the pickup time is not owed either.
    let late_promise = OrderEvent::ContactAttemptRecorded {
        attempted_at: PLACED,
        outcome: ContactOutcome::CallBackLater,
        agent: "li".into(),
        notes: String::new(),
        call_back_at: Some(PICKUP + time::Duration::hours(1)),
        next_contact_at: PICKUP + time::Duration::hours(1),
    };
    given::<G>([placed(), late_promise])
        .when(OrderCommand::MarkContactOverdue {
            now: PICKUP + time::Duration::hours(2),
        })
        .then(vec![]);
    // The desk closes it: a no-show, but not before the pickup time.
    given::<G>(history.clone())
        .when(OrderCommand::MarkNoShow {
            at: PICKUP - time::Duration::minutes(1),
            notes: String::new(),
        })
        .then_err(OrderError::BeforePickup { pickup_at: PICKUP });
    given::<G>(history)
        .when(OrderCommand::MarkNoShow {
            at: PICKUP + time::Duration::minutes(5),
            notes: "never reached".into(),
        })
        .then(vec![OrderEvent::NoShow {
            recorded_at: PICKUP + time::Duration::minutes(5),
            notes: "never reached".into(),
        }]);
}

#[test]
fn commands_on_an_order_that_does_not_exist_are_refused() {
    given::<G>([])
        .when(OrderCommand::Confirm {
            at: PLACED,
            notes: String::new(),
        })
        .then_err(OrderError::NotFound);
}

#[test]
fn every_event_survives_the_wire() {
    let at = PLACED + time::Duration::hours(1);
    let events = vec![
        placed(),
        call(ContactOutcome::CallBackLater, at),
        OrderEvent::ContactOverdue {
            contact_due_at: at,
            detected_at: at,
        },
        confirmed(),
        OrderEvent::Changed {
            changed_at: at,
            changes: BookingChanges {
                add_ons: Some(vec![]),
                pickup_location: Some(Location::Address("上海市浦东新区".into())),
                ..Default::default()
            },
            reason: "r".into(),
        },
        OrderEvent::Cancelled {
            cancelled_at: at,
            by: CancelledBy::Shortage,
            reason: "no car".into(),
        },
        OrderEvent::PickedUp(handover(PICKUP, 5)),
        OrderEvent::PickedUp(Handover {
            planned_vehicle_id: Some("V9".into()),
            ..handover(PICKUP, 5)
        }),
        OrderEvent::Swapped(swap(PICKUP + time::Duration::hours(3), 1100, "V2")),
        OrderEvent::Swapped(Swap {
            location: None,
            ..swap(PICKUP + time::Duration::hours(4), 1200, "V3")
        }),
        OrderEvent::Returned(Handover {
            location: Some(Location::Station("SHA".into())),
            vehicle_id: String::new(),
            plate: None,
            ..handover(RETURN, 9)
        }),
        OrderEvent::Completed { completed_at: RETURN },
        OrderEvent::NoShow {
            recorded_at: PICKUP,
            notes: "n".into(),
        },
        assigned(car("V2", "沪A·D00002")),
        OrderEvent::VehicleAssignmentRecorded {
            vehicle: AssignedVehicle {
                model: None,
                ..car("V3", "沪A·D00003")
            },
            plan_id: "P2".into(),
            assigned_at: at,
            replaced_vehicle_id: Some("V2".into()),
            reason: "BREAKDOWN".into(),
        },
        released("V3"),
        flagged("TOO_FAR"),
    ];
    // Every kind of event is in the list: `kind` names each variant without a wildcard, so a
    // new kind fails to compile here until it is added.
    fn kind(e: &OrderEvent) -> usize {
        match e {
            OrderEvent::Placed { .. } => 0,
            OrderEvent::ContactAttemptRecorded { .. } => 1,
            OrderEvent::ContactOverdue { .. } => 2,
            OrderEvent::Confirmed { .. } => 3,
            OrderEvent::Changed { .. } => 4,
            OrderEvent::Cancelled { .. } => 5,
            OrderEvent::PickedUp(_) => 6,
            OrderEvent::Returned(_) => 7,
            OrderEvent::Completed { .. } => 8,
            OrderEvent::NoShow { .. } => 9,
            OrderEvent::VehicleAssignmentRecorded { .. } => 10,
            OrderEvent::AssignmentCleared { .. } => 11,
            OrderEvent::FlaggedAtRisk { .. } => 12,
            OrderEvent::Swapped(_) => 13,
        }
    }
    let kinds: std::collections::BTreeSet<usize> = events.iter().map(kind).collect();
    assert_eq!(kinds, (0..14).collect(), "an event kind is missing from the round trip");
    assert_round_trip::<G>(events);
}

#[test]
fn stored_events_the_kernel_cannot_accept_are_named_not_guessed() {
    // A plate written by hand into the log under the old, looser check.
    let loose = rentops_proto::order::VehiclePickedUp {
        picked_up_at: Some(rentops_proto::timestamp::to_timestamp(PICKUP)),
        plate: "沪A·D1".into(),
        ..Default::default()
    };
    let err = G::decode("VehiclePickedUp", &prost::Message::encode_to_vec(&loose)).unwrap_err();
    assert!(
        matches!(&err, DecodeError::InvalidField { field, .. } if field == "plate"),
        "{err:?}"
    );
    let no_time = rentops_proto::order::OrderCompleted::default();
    assert_eq!(
        G::decode("OrderCompleted", &prost::Message::encode_to_vec(&no_time)),
        Err(DecodeError::MissingField {
            name: "OrderCompleted".into(),
            field: "completed_at".into()
        })
    );
    assert_eq!(
        G::decode("OrderTeleported", b""),
        Err(DecodeError::UnknownEvent {
            name: "OrderTeleported".into()
        })
    );
    // The name the log stores is the codec's.
    assert_eq!(G::name(&confirmed()), "OrderConfirmed");
    assert!(!encode_event(&confirmed()).is_empty());
}

#[test]
fn the_stored_order_json_keeps_its_spelling_of_models_and_plates() {
    let mut events = confirmed_order();
    events.push(OrderEvent::PickedUp(handover(PICKUP, 5)));
    let order = fold(&events);
    let json = serde_json::to_value(&order).unwrap();
    // Replicas of the previous build read these rows: variant names, dotted plates.
    assert_eq!(json["booking"]["model"], "Es6");
    assert_eq!(json["booking"]["city"], "SHA");
    assert_eq!(json["booking"]["price"], 120_000);
    assert_eq!(json["pickup"]["plate"], "沪A·D12345");
    assert_eq!(serde_json::from_value::<Order>(json.clone()).unwrap(), order);
    // Rows written with the kernel's spelling of the model, and compact plates, read too.
    let mut other = json;
    other["booking"]["model"] = "ES6".into();
    other["pickup"]["plate"] = "沪AD12345".into();
    assert_eq!(serde_json::from_value::<Order>(other).unwrap(), order);
}

// ---- fleet's plan, folded into the order ------------------------------------------------------

const PLANNED: OffsetDateTime = datetime!(2026-12-01 11:00 UTC);

fn car(vehicle_id: &str, plate: &str) -> AssignedVehicle {
    AssignedVehicle {
        vehicle_id: vehicle_id.into(),
        plate: Some(self::plate(plate)),
        model: Some(VehicleModel::Es6),
        upgrade: false,
    }
}

fn assign(vehicle: AssignedVehicle) -> OrderCommand {
    OrderCommand::RecordAssignment {
        vehicle,
        plan_id: "P1".into(),
        at: PLANNED,
        replaced_vehicle_id: None,
        reason: String::new(),
    }
}

fn assigned(vehicle: AssignedVehicle) -> OrderEvent {
    OrderEvent::VehicleAssignmentRecorded {
        vehicle,
        plan_id: "P1".into(),
        assigned_at: PLANNED,
        replaced_vehicle_id: None,
        reason: String::new(),
    }
}

fn release(vehicle_id: &str) -> OrderCommand {
    OrderCommand::ClearAssignment {
        vehicle_id: vehicle_id.into(),
        reason: "CANCELLED".into(),
        plan_id: "P1".into(),
        at: PLANNED,
    }
}

fn released(vehicle_id: &str) -> OrderEvent {
    OrderEvent::AssignmentCleared {
        vehicle_id: vehicle_id.into(),
        reason: "CANCELLED".into(),
        plan_id: "P1".into(),
        cleared_at: PLANNED,
    }
}

fn risk(reason: &str) -> AtRisk {
    AtRisk {
        reason: reason.into(),
        explanation: "no ES6 or upgrade free at PVG".into(),
    }
}

fn flag(reason: &str) -> OrderCommand {
    OrderCommand::FlagAtRisk {
        at_risk: risk(reason),
        plan_id: "P1".into(),
        at: PLANNED,
    }
}

fn flagged(reason: &str) -> OrderEvent {
    OrderEvent::FlaggedAtRisk {
        at_risk: risk(reason),
        plan_id: "P1".into(),
        flagged_at: PLANNED,
    }
}

fn confirmed_order() -> Vec<OrderEvent> {
    vec![placed(), call(ContactOutcome::Reached, PLACED), confirmed()]
}

fn fold(events: &[OrderEvent]) -> Order {
    events.iter().fold(None, OrderAggregate::evolve).expect("placed")
}

#[test]
fn a_car_assigned_by_the_plan_is_recorded_on_the_order() {
    given::<G>(confirmed_order())
        .when(assign(car("V1", "沪A·D00001")))
        .then(vec![assigned(car("V1", "沪A·D00001"))]);
    let mut h = confirmed_order();
    h.push(assigned(car("V1", "沪A·D00001")));
    assert_eq!(fold(&h).assigned_vehicle, Some(car("V1", "沪A·D00001")));
}

#[test]
fn the_same_assignment_again_records_nothing() {
    let mut h = confirmed_order();
    h.push(assigned(car("V1", "沪A·D00001")));
    given::<G>(h).when(assign(car("V1", "沪A·D00001"))).then(vec![]);
}

#[test]
fn a_reassignment_replaces_the_car() {
    let mut h = confirmed_order();
    h.push(assigned(car("V1", "沪A·D00001")));
    let cmd = OrderCommand::RecordAssignment {
        vehicle: car("V2", "沪A·D00002"),
        plan_id: "P2".into(),
        at: PLANNED,
        replaced_vehicle_id: Some("V1".into()),
        reason: "BREAKDOWN".into(),
    };
    let events = given::<G>(h.clone()).when(cmd).then_ok();
    h.extend(events);
    assert_eq!(fold(&h).assigned_vehicle, Some(car("V2", "沪A·D00002")));
}

#[test]
fn a_release_clears_the_car_and_a_release_of_another_car_is_stale() {
    let mut h = confirmed_order();
    h.push(assigned(car("V1", "沪A·D00001")));
    given::<G>(h.clone()).when(release("V9")).then(vec![]);
    given::<G>(h.clone()).when(release("V1")).then(vec![released("V1")]);
    h.push(released("V1"));
    assert_eq!(fold(&h).assigned_vehicle, None);
    // Nothing held: nothing to release.
    given::<G>(h).when(release("V1")).then(vec![]);
}

#[test]
fn an_order_no_car_can_serve_is_flagged_at_risk_once() {
    let mut h = confirmed_order();
    h.push(assigned(car("V1", "沪A·D00001")));
    h.push(released("V1"));
    given::<G>(h.clone())
        .when(flag("CAPACITY"))
        .then(vec![flagged("CAPACITY")]);
    h.push(flagged("CAPACITY"));
    assert_eq!(fold(&h).at_risk, Some(risk("CAPACITY")));
    given::<G>(h.clone()).when(flag("CAPACITY")).then(vec![]);
    // Another reason is news for the desk.
    given::<G>(h).when(flag("TOO_FAR")).then(vec![flagged("TOO_FAR")]);
}

#[test]
fn an_assignment_clears_at_risk() {
    let mut h = confirmed_order();
    h.push(flagged("CAPACITY"));
    given::<G>(h.clone())
        .when(assign(car("V1", "沪A·D00001")))
        .then(vec![assigned(car("V1", "沪A·D00001"))]);
    h.push(assigned(car("V1", "沪A·D00001")));
    let o = fold(&h);
    assert_eq!(o.at_risk, None);
    assert_eq!(o.assigned_vehicle, Some(car("V1", "沪A·D00001")));
}

#[test]
fn the_plan_no_longer_changes_an_order_picked_up_or_closed() {
    let picked_up = {
        let mut h = confirmed_order();
        h.push(assigned(car("V1", "沪A·D00001")));
        h.push(OrderEvent::PickedUp(handover(PICKUP, 5)));
        h
    };
    let cancelled = {
        let mut h = confirmed_order();
        h.push(OrderEvent::Cancelled {
            cancelled_at: PLANNED,
            by: CancelledBy::Customer,
            reason: String::new(),
        });
        h
    };
    let completed = {
        let mut h = picked_up.clone();
        h.push(OrderEvent::Returned(handover(RETURN, 9)));
        h.push(OrderEvent::Completed { completed_at: RETURN });
        h
    };
    let no_show = {
        let mut h = confirmed_order();
        h.push(OrderEvent::NoShow {
            recorded_at: PICKUP,
            notes: String::new(),
        });
        h
    };
    for h in [picked_up.clone(), cancelled, completed, no_show] {
        given::<G>(h.clone()).when(assign(car("V2", "沪A·D00002"))).then(vec![]);
        given::<G>(h.clone()).when(release("V1")).then(vec![]);
        if h != picked_up {
            given::<G>(h).when(flag("CAPACITY")).then(vec![]);
        }
    }
    // On hire, the plan flags the order only when its car broke down and no replacement can
    // reach the customer: the desk must hear of that.
    let stranded = given::<G>(picked_up).when(flag("TOO_FAR")).then_ok();
    assert!(
        matches!(stranded.as_slice(), [OrderEvent::FlaggedAtRisk { .. }]),
        "{stranded:?}"
    );
}

#[test]
fn plan_events_for_an_order_this_service_does_not_know_are_refused() {
    given::<G>([])
        .when(assign(car("V1", "沪A·D00001")))
        .then_err(OrderError::NotFound);
    given::<G>([]).when(release("V1")).then_err(OrderError::NotFound);
    given::<G>([]).when(flag("CAPACITY")).then_err(OrderError::NotFound);
}

/// The car on hire (V1, picked up at 1,000 km) replaced by `to` at `at`, V1 read at `km`.
fn swap(at: OffsetDateTime, km: i64, to: &str) -> Swap {
    Swap {
        at,
        location: Some(Location::Address("G2 京沪高速 1200 km".into())),
        broken: SwapReading {
            vehicle_id: "V1".into(),
            plate: Some(plate("沪A·D12345")),
            odometer_km: km,
            charge_percent: 35,
        },
        replacement: SwapReading {
            vehicle_id: to.into(),
            plate: Some(plate("沪A·D00002")),
            odometer_km: 5000,
            charge_percent: 95,
        },
        reason: "breakdown".into(),
        notes: String::new(),
        recorded_by: "ops:zhang".into(),
    }
}

fn on_hire() -> Vec<OrderEvent> {
    vec![
        placed(),
        call(ContactOutcome::Reached, PLACED),
        confirmed(),
        OrderEvent::PickedUp(handover(PICKUP, 1000)),
    ]
}

#[test]
fn a_swap_puts_the_replacement_on_hire_and_the_return_is_booked_to_it() {
    let at = PICKUP + time::Duration::hours(5);
    let state = given::<G>(on_hire())
        .when(OrderCommand::RecordSwap(swap(at, 1180, "V2")))
        .then(vec![OrderEvent::Swapped(swap(at, 1180, "V2"))])
        .expect("placed");
    let car = state.vehicle_on_hire().expect("on hire");
    assert_eq!(car.vehicle_id, "V2");
    assert_eq!(
        state.assigned_vehicle.as_ref().map(|a| a.vehicle_id.as_str()),
        Some("V2")
    );

    // Which car the customer had, at any moment of the hire.
    assert_eq!(state.vehicle_on_hire_at(PICKUP - time::Duration::minutes(1)), None);
    assert_eq!(state.vehicle_on_hire_at(PICKUP).map(|c| c.0), Some("V1".into()));
    assert_eq!(
        state.vehicle_on_hire_at(at - time::Duration::seconds(1)).map(|c| c.0),
        Some("V1".into())
    );
    assert_eq!(
        state.vehicle_on_hire_at(at),
        Some(("V2".into(), Some(plate("沪A·D00002"))))
    );

    // The return reads the replacement: its odometer counts from the replacement's 5,000 km.
    let mut history = on_hire();
    history.push(OrderEvent::Swapped(swap(at, 1180, "V2")));
    let back = |km| Handover {
        at: RETURN,
        vehicle_id: String::new(),
        plate: None,
        odometer_km: km,
        charge_percent: 40,
        damage_noted: String::new(),
        location: None,
        planned_vehicle_id: None,
    };
    given::<G>(history.clone())
        .when(OrderCommand::RecordReturn(back(4999)))
        .then_err(OrderError::Invalid {
            field: "odometer_km",
            message: "4999 km is less than the 5000 km of V2 read when it was swapped in".into(),
        });
    let events = given::<G>(history.clone())
        .when(OrderCommand::RecordReturn(back(5300)))
        .then_ok();
    let returned = history.iter().chain(&events).fold(None, G::evolve).expect("placed");
    let ret = returned.ret.as_ref().expect("returned");
    assert_eq!(ret.vehicle_id, "V2", "the car taken back is the replacement");
    assert_eq!(ret.plate, Some(plate("沪A·D00002")));
    assert_eq!(returned.vehicle_on_hire(), None, "returned: no car on hire");
    assert_eq!(returned.vehicle_on_hire_at(RETURN), None);
    assert_eq!(
        returned
            .vehicle_on_hire_at(RETURN - time::Duration::seconds(1))
            .map(|c| c.0),
        Some("V2".into())
    );
}

#[test]
fn a_swap_must_take_out_the_car_on_hire_with_readings_that_move_forward() {
    let at = PICKUP + time::Duration::hours(5);
    // The broken car defaults to the car on hire, and its plate is the order's.
    let unnamed = Swap {
        broken: SwapReading {
            vehicle_id: String::new(),
            plate: None,
            ..swap(at, 1180, "V2").broken
        },
        ..swap(at, 1180, "V2")
    };
    given::<G>(on_hire())
        .when(OrderCommand::RecordSwap(unnamed))
        .then(vec![OrderEvent::Swapped(swap(at, 1180, "V2"))]);
    let other = Swap {
        broken: SwapReading {
            vehicle_id: "V7".into(),
            ..swap(at, 1180, "V2").broken
        },
        ..swap(at, 1180, "V2")
    };
    given::<G>(on_hire())
        .when(OrderCommand::RecordSwap(other))
        .then_err(OrderError::Invalid {
            field: "from_vehicle_id",
            message: "the car on hire is V1, not V7".into(),
        });
    given::<G>(on_hire())
        .when(OrderCommand::RecordSwap(swap(at, 1180, "V1")))
        .then_err(OrderError::Invalid {
            field: "vehicle_id",
            message: "the replacement must be another car than the one on hire".into(),
        });
    given::<G>(on_hire())
        .when(OrderCommand::RecordSwap(swap(
            PICKUP - time::Duration::minutes(1),
            1180,
            "V2",
        )))
        .then_err(OrderError::Invalid {
            field: "swapped_at",
            message: "cannot be before the car on hire was handed over".into(),
        });
    given::<G>(on_hire())
        .when(OrderCommand::RecordSwap(swap(at, 999, "V2")))
        .then_err(OrderError::Invalid {
            field: "from_odometer_km",
            message: "999 km is less than the 1000 km read when V1 was handed over".into(),
        });
    // Before pickup there is no car to swap; after the return neither.
    given::<G>([placed(), call(ContactOutcome::Reached, PLACED), confirmed()])
        .when(OrderCommand::RecordSwap(swap(at, 1180, "V2")))
        .then_err(OrderError::WrongStatus {
            action: "swap the car of",
            status: Status::Confirmed,
        });
}

#[test]
fn the_same_swap_again_records_nothing_and_a_second_swap_follows_the_first() {
    let first = PICKUP + time::Duration::hours(5);
    let mut history = on_hire();
    history.push(OrderEvent::Swapped(swap(first, 1180, "V2")));
    // A retry (another request id, another desk person): nothing new.
    given::<G>(history.clone())
        .when(OrderCommand::RecordSwap(Swap {
            recorded_by: "ops:wang".into(),
            ..swap(first, 1180, "V2")
        }))
        .then(vec![]);
    // The replacement breaks down too: the second swap takes V2 out, read from its 5,000 km.
    let second = Swap {
        broken: SwapReading {
            vehicle_id: "V2".into(),
            plate: Some(plate("沪A·D00002")),
            odometer_km: 5100,
            charge_percent: 20,
        },
        replacement: SwapReading {
            vehicle_id: "V3".into(),
            plate: Some(plate("沪A·D00003")),
            odometer_km: 700,
            charge_percent: 100,
        },
        ..swap(first + time::Duration::hours(2), 0, "V3")
    };
    let state = given::<G>(history.clone())
        .when(OrderCommand::RecordSwap(second.clone()))
        .then(vec![OrderEvent::Swapped(second.clone())])
        .expect("placed");
    assert_eq!(state.vehicle_on_hire().map(|c| c.vehicle_id), Some("V3".into()));
    assert_eq!(
        state.vehicle_on_hire_at(first + time::Duration::hours(1)).map(|c| c.0),
        Some("V2".into())
    );
    let early = Swap {
        at: first - time::Duration::minutes(1),
        ..second
    };
    given::<G>(history)
        .when(OrderCommand::RecordSwap(early))
        .then_err(OrderError::Invalid {
            field: "swapped_at",
            message: "cannot be before the car on hire was handed over".into(),
        });
}

#[test]
fn a_pickup_with_another_car_than_planned_is_accepted_and_says_so() {
    let mut history = vec![placed(), call(ContactOutcome::Reached, PLACED), confirmed()];
    history.push(assigned(car("V2", "沪A·D00002")));
    let state = given::<G>(history.clone())
        .when(OrderCommand::RecordPickup(handover(PICKUP, 1000)))
        .then(vec![OrderEvent::PickedUp(Handover {
            planned_vehicle_id: Some("V2".into()),
            ..handover(PICKUP, 1000)
        })])
        .expect("placed");
    assert_eq!(state.vehicle_on_hire().map(|c| c.vehicle_id), Some("V1".into()));
    // The same pickup again is a retry, not a second handover.
    let mut picked = history.clone();
    picked.push(OrderEvent::PickedUp(Handover {
        planned_vehicle_id: Some("V2".into()),
        ..handover(PICKUP, 1000)
    }));
    given::<G>(picked)
        .when(OrderCommand::RecordPickup(handover(PICKUP, 1000)))
        .then(vec![]);
    // The planned car handed over: nothing to say.
    history.pop();
    history.push(assigned(car("V1", "沪A·D12345")));
    given::<G>(history)
        .when(OrderCommand::RecordPickup(handover(PICKUP, 1000)))
        .then(vec![OrderEvent::PickedUp(handover(PICKUP, 1000))]);
}

#[test]
fn on_hire_the_plan_is_heard_only_when_it_plans_a_swap_of_the_car_on_hire() {
    let plan = |replaced: Option<&str>| OrderCommand::RecordAssignment {
        vehicle: car("V2", "沪A·D00002"),
        plan_id: "P9".into(),
        at: PICKUP + time::Duration::hours(5),
        replaced_vehicle_id: replaced.map(str::to_owned),
        reason: "swap: V1 broke down during the hire".into(),
    };
    given::<G>(on_hire()).when(plan(None)).then(vec![]);
    given::<G>(on_hire()).when(plan(Some("V7"))).then(vec![]);
    let events = given::<G>(on_hire()).when(plan(Some("V1"))).then_ok();
    let state = on_hire().iter().chain(&events).fold(None, G::evolve).expect("placed");
    assert_eq!(
        state.assigned_vehicle.as_ref().map(|a| a.vehicle_id.as_str()),
        Some("V2")
    );
    assert_eq!(
        state.vehicle_on_hire().map(|c| c.vehicle_id),
        Some("V1".into()),
        "planned is not done: V1 is on hire until the swap is recorded"
    );
}

#[test]
fn an_order_whose_car_no_driver_can_move_is_at_risk_and_keeps_its_car() {
    let mut history = confirmed_order();
    history.push(assigned(car("V1", "沪A·D00001")));
    history.push(flagged(super::order::NO_DRIVER));
    let o = fold(&history);
    assert_eq!(o.at_risk.as_ref().map(|r| r.reason.as_str()), Some("NO_DRIVER"));
    assert_eq!(
        o.assigned_vehicle.as_ref().map(|a| a.vehicle_id.as_str()),
        Some("V1"),
        "the car stays planned; only its move has no driver"
    );
    // The same flag again: nothing new.
    given::<G>(history.clone()).when(flag("NO_DRIVER")).then(vec![]);
    // A driver can move it now: the car is recorded again, which clears the flag.
    let resolve = || OrderCommand::ResolveNoDriver {
        plan_id: "P2".into(),
        at: PLANNED,
    };
    let state = given::<G>(history.clone())
        .when(resolve())
        .then(vec![OrderEvent::VehicleAssignmentRecorded {
            vehicle: car("V1", "沪A·D00001"),
            plan_id: "P2".into(),
            assigned_at: PLANNED,
            replaced_vehicle_id: None,
            reason: "a driver can move the car".into(),
        }])
        .expect("placed");
    assert_eq!(state.at_risk, None);
    // Nothing to resolve on an order not waiting for a driver (or at risk for want of a car).
    given::<G>(confirmed_order()).when(resolve()).then(vec![]);
    let mut no_car = confirmed_order();
    no_car.push(flagged("CAPACITY"));
    given::<G>(no_car).when(resolve()).then(vec![]);
}
