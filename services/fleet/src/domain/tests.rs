//! The fleet's rules as given / when / then.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use rentops_kernel::testing::{assert_round_trip, given};
use rentops_kernel::{Aggregate, DecodeError, EventCodec, Snapshot};
use rentops_planner::PlanOptions;
use rentops_proto::fleet as pb;
use time::OffsetDateTime;
use time::macros::datetime;

use super::city::{CityAggregate, CityCommand, CityError, CityEvent};
use super::plan::*;
use super::vehicle::*;
use super::*;

const NOW: OffsetDateTime = datetime!(2026-12-01 00:00 UTC);

fn h(hours: i64) -> OffsetDateTime {
    NOW + time::Duration::hours(hours)
}

fn registered(id: &str) -> VehicleEvent {
    VehicleEvent::VehicleRegistered(pb::VehicleRegistered {
        vehicle_id: id.into(),
        vin: "LNBSCB3F5KW123456".into(),
        plate: "沪A·D12345".into(),
        model: model_to_pb(VehicleModel::Es6),
        city: "SHA".into(),
        home_station: "PVG".into(),
        registered_at: Some(ts(NOW)),
    })
}

fn picked_up(order: &str) -> VehicleEvent {
    VehicleEvent::VehicleReadingRecorded(pb::VehicleReadingRecorded {
        vehicle_id: "V1".into(),
        odometer_km: 12_000,
        charge_percent: 90,
        at: Some(ts(h(1))),
        kind: pb::ReadingKind::Pickup as i32,
        order_id: order.into(),
        station: String::new(),
    })
}

fn breakdown() -> VehicleCommand {
    VehicleCommand::ReportBreakdown {
        at: h(2),
        place: "PVG".into(),
        severity: Severity::Major,
        expected_repair_until: Some(h(48)),
        description: "flat battery".into(),
    }
}

#[test]
fn a_breakdown_during_a_hire_records_the_order_to_swap() {
    let events = given::<VehicleAggregate>([registered("V1"), picked_up("O1")])
        .when(breakdown())
        .then_ok();
    let [VehicleEvent::BreakdownReported(b)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(b.during_order_id, "O1");
}

#[test]
fn a_broken_car_cannot_break_down_again_and_a_sound_one_cannot_be_repaired() {
    let broken = given::<VehicleAggregate>([registered("V1")])
        .when(breakdown())
        .then_ok();
    given::<VehicleAggregate>(std::iter::once(registered("V1")).chain(broken))
        .when(breakdown())
        .then_err(VehicleError::AlreadyBroken(h(2)));
    given::<VehicleAggregate>([registered("V1")])
        .when(VehicleCommand::CompleteRepair {
            at: h(3),
            station: None,
            notes: String::new(),
        })
        .then_err(VehicleError::NotBroken);
}

#[test]
fn a_retired_car_takes_no_commands_and_a_car_on_hire_cannot_retire() {
    let retired = VehicleEvent::VehicleRetired(pb::VehicleRetired {
        vehicle_id: "V1".into(),
        at: Some(ts(h(1))),
        reason: "sold".into(),
    });
    given::<VehicleAggregate>([registered("V1"), retired])
        .when(breakdown())
        .then_err(VehicleError::Retired);
    given::<VehicleAggregate>([registered("V1"), picked_up("O1")])
        .when(VehicleCommand::Retire {
            at: h(3),
            reason: "sold".into(),
        })
        .then_err(VehicleError::OnHire("O1".into()));
}

#[test]
fn registering_again_with_the_same_facts_is_a_no_op() {
    let VehicleEvent::VehicleRegistered(r) = registered("V1") else {
        unreachable!()
    };
    let command = VehicleCommand::Register {
        vehicle_id: r.vehicle_id,
        vin: r.vin,
        // Written another way, it is the same plate: still the same facts.
        plate: Plate::parse("沪ad12345").unwrap(),
        model: VehicleModel::Es6,
        city: r.city,
        home_station: r.home_station,
        at: h(5),
    };
    given::<VehicleAggregate>([registered("V1")])
        .when(command.clone())
        .then(vec![]);
    let VehicleCommand::Register { .. } = command else {
        unreachable!()
    };
}

#[test]
fn a_new_city_is_configured_with_the_default_turnaround_and_ladder_as_events() {
    let events = given::<CityAggregate>([])
        .when(CityCommand::Configure {
            city: "SHA".into(),
            name: "Shanghai".into(),
            default_station: String::new(),
            delivery_minutes: 30,
            frozen_window_minutes: 120,
        })
        .then_ok();
    assert_eq!(events.len(), 3);
    assert!(matches!(&events[1], CityEvent::TurnaroundSet(t) if t.minutes == 60));
    let state = events.iter().fold(None, CityAggregate::evolve);
    let city = state.unwrap();
    assert_eq!(city.upgrades, default_ladder());
    assert!(city.serves(VehicleModel::Es8, VehicleModel::Es6));
    assert!(
        !city.serves(VehicleModel::Es6, VehicleModel::Es8),
        "never a lower class"
    );
    given::<CityAggregate>(events)
        .when(CityCommand::SetTravelTimes {
            times: vec![("PVG".into(), "NOPE".into(), 10)],
            symmetric: false,
        })
        .then_err(CityError::UnknownStation {
            field: "times[0].from_station".into(),
            station: "PVG".into(),
        });
}

// ---- the plan ---------------------------------------------------------------------------------

fn city() -> super::city::City {
    let mut travel = BTreeMap::new();
    for (a, b, m) in [("PVG", "SHA", 50), ("SHA", "PVG", 50)] {
        travel
            .entry(a.to_string())
            .or_insert_with(BTreeMap::new)
            .insert(b.to_string(), m);
    }
    super::city::City {
        city: "SHA".into(),
        name: "Shanghai".into(),
        default_station: "PVG".into(),
        delivery_minutes: 30,
        frozen_window_minutes: 120,
        turnaround_minutes: 60,
        stations: ["PVG", "SHA"]
            .into_iter()
            .map(|s| {
                (
                    s.to_string(),
                    super::city::Station {
                        name: s.into(),
                        districts: vec![],
                    },
                )
            })
            .collect(),
        travel,
        upgrades: default_ladder(),
    }
}

fn car(id: &str, model: VehicleModel) -> PlanVehicle {
    PlanVehicle {
        vehicle_id: id.into(),
        plate: format!("沪A·{id}"),
        model,
        station: "PVG".into(),
        available_from: NOW,
        blocked: vec![],
        broken: false,
    }
}

fn order(id: &str, model: VehicleModel, pickup_h: i64) -> PlanOrder {
    PlanOrder {
        order_id: id.into(),
        model,
        pickup_station: "PVG".into(),
        pickup_at: h(pickup_h),
        return_station: "PVG".into(),
        return_at: h(pickup_h + 24),
        delivery_address: None,
        collection_address: None,
        swap_from: None,
    }
}

fn replan(now: OffsetDateTime, orders: Vec<PlanOrder>, vehicles: Vec<PlanVehicle>) -> ReplanInput {
    ReplanInput {
        city: city(),
        plan_id: "P".into(),
        now,
        horizon_end: h(24 * 7),
        trigger: "test".into(),
        orders,
        vehicles,
        shifts: vec![],
        closed: BTreeMap::new(),
        options: PlanOptions::default(),
    }
}

fn run(state: &PlanState, input: ReplanInput) -> (Vec<PlanEvent>, PlanState) {
    let events = PlanAggregate::decide(state, &PlanCommand::Replan(Box::new(input))).unwrap();
    let next = events.iter().fold(state.clone(), PlanAggregate::evolve);
    (events, next)
}

fn names(events: &[PlanEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.name()).collect()
}

#[test]
fn confirmed_orders_get_cars_and_an_unchanged_replan_publishes_nothing() {
    let input = || {
        replan(
            NOW,
            vec![order("O1", VehicleModel::Es6, 10)],
            vec![car("V1", VehicleModel::Es6)],
        )
    };
    let (events, state) = run(&PlanState::default(), input());
    assert_eq!(names(&events), ["VehicleAssigned", "PlanPublished"]);
    assert_eq!(state.assignments["O1"].vehicle_id, "V1");
    let (again, _) = run(&state, input());
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn a_cancellation_releases_the_car() {
    let (_, state) = run(
        &PlanState::default(),
        replan(
            NOW,
            vec![order("O1", VehicleModel::Es6, 10)],
            vec![car("V1", VehicleModel::Es6)],
        ),
    );
    let mut input = replan(NOW, vec![], vec![car("V1", VehicleModel::Es6)]);
    input.closed.insert("O1".into(), Closed::Cancelled);
    let (events, state) = run(&state, input);
    assert_eq!(names(&events), ["AssignmentReleased", "PlanPublished"]);
    let PlanEvent::AssignmentReleased(r) = &events[0] else {
        unreachable!()
    };
    assert_eq!((r.vehicle_id.as_str(), r.reason.as_str()), ("V1", "order cancelled"));
    assert!(state.assignments.is_empty());
}

#[test]
fn a_breakdown_moves_the_affected_order_and_flags_what_no_car_can_serve() {
    let cars = || vec![car("V1", VehicleModel::Es6), car("V2", VehicleModel::Es8)];
    let orders = || vec![order("O1", VehicleModel::Es6, 10), order("O2", VehicleModel::Es6, 11)];
    let (_, state) = run(&PlanState::default(), replan(NOW, orders(), cars()));
    assert_eq!(state.assignments.len(), 2);
    let broken = state.assignments["O1"].vehicle_id.clone();
    let mut after = cars();
    for v in after.iter_mut().filter(|v| v.vehicle_id == broken) {
        v.blocked.push((h(1), h(72)));
        v.broken = true;
    }
    let (events, state) = run(&state, replan(h(1), orders(), after));
    // One car left for two ES6 orders: O1 (the broken car's) moves if it can, one is at risk.
    assert!(names(&events).contains(&"OrderAtRisk"), "{events:?}");
    assert_eq!(state.assignments.len(), 1);
    assert_eq!(state.at_risk.len(), 1);
    let (code, _) = state.at_risk.values().next().unwrap();
    assert_eq!(code, "CAPACITY");
    assert!(state.assignments.values().all(|a| a.vehicle_id != broken));
}

#[test]
fn inside_the_frozen_window_an_assignment_stays_even_when_a_better_car_appears() {
    // O1 at 10:00 with an upgrade (only an ES8 existed); at 08:30 an ES6 is registered.
    let (_, state) = run(
        &PlanState::default(),
        replan(
            NOW,
            vec![order("O1", VehicleModel::Es6, 10)],
            vec![car("V8", VehicleModel::Es8)],
        ),
    );
    assert!(state.assignments["O1"].upgrade);
    let now = NOW + time::Duration::minutes(8 * 60 + 30);
    let (events, state) = run(
        &state,
        replan(
            now,
            vec![order("O1", VehicleModel::Es6, 10)],
            vec![car("V8", VehicleModel::Es8), car("V6", VehicleModel::Es6)],
        ),
    );
    assert!(!names(&events).contains(&"VehicleReassigned"), "{events:?}");
    assert_eq!(state.assignments["O1"].vehicle_id, "V8");
    // Outside the window (a day ahead) the same situation moves the order to the exact model.
    let (_, state) = run(
        &PlanState::default(),
        replan(
            NOW,
            vec![order("O2", VehicleModel::Es6, 30)],
            vec![car("V8", VehicleModel::Es8)],
        ),
    );
    let (events, state) = run(
        &state,
        replan(
            now,
            vec![order("O2", VehicleModel::Es6, 30)],
            vec![car("V8", VehicleModel::Es8), car("V6", VehicleModel::Es6)],
        ),
    );
    assert_eq!(names(&events), ["VehicleReassigned", "PlanPublished"]);
    assert_eq!(state.assignments["O2"].vehicle_id, "V6");
}

#[test]
fn an_order_at_an_unconfigured_station_is_at_risk_and_says_why() {
    let mut o = order("O1", VehicleModel::Es6, 10);
    o.pickup_station = "HONGQIAO".into();
    let (events, state) = run(
        &PlanState::default(),
        replan(NOW, vec![o], vec![car("V1", VehicleModel::Es6)]),
    );
    assert_eq!(names(&events), ["OrderAtRisk", "PlanPublished"]);
    assert_eq!(state.at_risk["O1"].0, UNKNOWN_STATION);
}

#[test]
fn delivery_tasks_go_to_a_driver_on_shift_and_are_flagged_otherwise() {
    let mut o = order("O1", VehicleModel::Es6, 10);
    o.delivery_address = Some("浦东新区 世纪大道 100 号".into());
    let mut input = replan(NOW, vec![o.clone()], vec![car("V1", VehicleModel::Es6)]);
    let (events, _) = run(&PlanState::default(), input.clone());
    assert!(names(&events).contains(&"DriverTaskUnassigned"), "no shifts: flagged");
    input.shifts.push(PlanShift {
        driver_id: "D1".into(),
        shift_id: "S1".into(),
        from: h(8),
        to: h(16),
        station: "PVG".into(),
    });
    let (events, state) = run(&PlanState::default(), input);
    let task = events.iter().find_map(|e| match e {
        PlanEvent::DriverTaskAssigned(t) => Some(t.clone()),
        _ => None,
    });
    assert_eq!(task.map(|t| t.driver_id), Some("D1".to_string()));
    assert_eq!(state.tasks.len(), 1);
}

/// Every kind of `C`'s events is among `events` (`names` lists them all), and each survives its
/// bytes.
fn round_trip_every_kind<C: EventCodec>(names: &[&str], events: Vec<C::Event>)
where
    C::Event: Debug + PartialEq,
{
    let covered: BTreeSet<&str> = events.iter().map(C::name).collect();
    assert_eq!(covered, names.iter().copied().collect::<BTreeSet<_>>());
    assert_round_trip::<C>(events);
}

#[test]
fn every_event_kind_round_trips_through_its_bytes() {
    // Events as the rules make them, then one of each kind (empty) so that none is left out.
    let mut vehicle = vec![registered("V9"), picked_up("O1")];
    vehicle.extend(
        given::<VehicleAggregate>([registered("V1"), picked_up("O1")])
            .when(breakdown())
            .then_ok(),
    );
    vehicle.extend(VehicleEvent::empty_of_each_kind());
    round_trip_every_kind::<VehicleAggregate>(VehicleEvent::NAMES, vehicle);

    let mut city = given::<CityAggregate>([])
        .when(CityCommand::Configure {
            city: "SHA".into(),
            name: "Shanghai".into(),
            default_station: String::new(),
            delivery_minutes: 30,
            frozen_window_minutes: 120,
        })
        .then_ok();
    city.extend(CityEvent::empty_of_each_kind());
    round_trip_every_kind::<CityAggregate>(CityEvent::NAMES, city);

    let (mut plan, _) = run(
        &PlanState::default(),
        replan(
            NOW,
            vec![order("O1", VehicleModel::Es6, 10)],
            vec![car("V1", VehicleModel::Es6)],
        ),
    );
    plan.extend(PlanEvent::empty_of_each_kind());
    round_trip_every_kind::<PlanAggregate>(PlanEvent::NAMES, plan);

    round_trip_every_kind::<super::driver::DriverAggregate>(
        super::driver::DriverEvent::NAMES,
        super::driver::DriverEvent::empty_of_each_kind(),
    );
}

#[test]
fn what_the_codec_cannot_read_is_named() {
    let e = registered("V9");
    let payload = VehicleAggregate::encode(&e);
    assert_eq!(
        VehicleAggregate::decode("Nope", &payload),
        Err(DecodeError::UnknownEvent { name: "Nope".into() })
    );
    let bad = pb::VehicleRegistered {
        registered_at: Some(prost_types::Timestamp { seconds: -5, nanos: 0 }),
        ..Default::default()
    };
    let bytes = prost::Message::encode_to_vec(&bad);
    let err = VehicleAggregate::decode("VehicleRegistered", &bytes).unwrap_err();
    assert!(
        matches!(&err, DecodeError::InvalidField { field, .. } if field == "registered_at"),
        "out-of-range time refused, naming the field: {err:?}"
    );
    assert!(matches!(
        VehicleAggregate::decode("VehicleRegistered", b"\xff\xff"),
        Err(DecodeError::Malformed { .. })
    ));
}

#[test]
fn the_stored_json_keeps_its_spelling_of_models() {
    let state = [registered("V1")].iter().fold(None, VehicleAggregate::evolve).unwrap();
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["model"], "Es6");
    assert_eq!(json["plate"], "沪A·D12345");
    assert_eq!(serde_json::from_value::<Vehicle>(json).unwrap(), state);
    let city = given::<CityAggregate>([])
        .when(CityCommand::Configure {
            city: "SHA".into(),
            name: "Shanghai".into(),
            default_station: String::new(),
            delivery_minutes: 30,
            frozen_window_minutes: 120,
        })
        .then_ok()
        .iter()
        .fold(None, CityAggregate::evolve)
        .unwrap();
    let json = serde_json::to_value(&city).unwrap();
    assert_eq!(json["upgrades"]["Es6"], serde_json::json!(["Ec6", "Es7", "Es8"]));
}

#[test]
fn a_vehicle_snapshot_reads_back_as_the_state_its_events_fold_to() {
    let repaired = VehicleEvent::RepairCompleted(pb::RepairCompleted {
        vehicle_id: "V1".into(),
        at: Some(ts(h(30))),
        station: "SHA".into(),
        notes: String::new(),
    });
    let maintenance = VehicleEvent::MaintenanceScheduled(pb::MaintenanceScheduled {
        vehicle_id: "V1".into(),
        from: Some(ts(h(50))),
        to: Some(ts(h(52))),
        reason: "tyres".into(),
    });
    let histories: Vec<Vec<VehicleEvent>> = vec![
        vec![],
        vec![registered("V1")],
        vec![registered("V1"), picked_up("O1")],
        vec![registered("V1"), picked_up("O1"), repaired, maintenance],
    ];
    for history in histories {
        let mut state = VehicleState::default();
        for event in &history {
            state = VehicleAggregate::evolve(state, event);
        }
        if history.len() == 2 {
            // With a breakdown on hire too, every optional field is set.
            let events = VehicleAggregate::decide(&state, &breakdown()).unwrap();
            state = events.iter().fold(state, VehicleAggregate::evolve);
        }
        let bytes = VehicleAggregate::encode_state(&state).unwrap();
        assert_eq!(VehicleAggregate::decode_state(&bytes).unwrap(), state, "{history:?}");
    }
    assert!(VehicleAggregate::decode_state(b"{\"vehicle_id\": 7}").is_err());
    assert_eq!(
        VehicleAggregate::SNAPSHOT.map(|f| f.version),
        Some(VehicleAggregate::VERSION)
    );
}
