//! The fleet's rules as given / when / then.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use rentops_kernel::testing::{assert_round_trip, given};
use rentops_kernel::{Aggregate, DecodeError, EventCodec, Snapshot};
use rentops_planner::PlanOptions;
use rentops_proto::fleet as pb;
use time::OffsetDateTime;
use time::macros::datetime;

use super::city::*;
use super::driver::{DriverAggregate, DriverEvent, DriverRegistered, ShiftScheduled};
use super::plan::*;
use super::plate::*;
use super::vehicle::*;
use super::*;

const NOW: OffsetDateTime = datetime!(2026-12-01 00:00 UTC);

fn h(hours: i64) -> OffsetDateTime {
    NOW + time::Duration::hours(hours)
}

fn registered(id: &str) -> VehicleEvent {
    VehicleEvent::VehicleRegistered(VehicleRegistered {
        vehicle_id: id.into(),
        vin: "LNBSCB3F5KW123456".into(),
        plate: Plate::parse("沪A·D12345").unwrap(),
        model: VehicleModel::Es6,
        city: "SHA".into(),
        home_station: "PVG".into(),
        registered_at: NOW,
    })
}

fn picked_up(order: &str) -> VehicleEvent {
    VehicleEvent::VehicleReadingRecorded(VehicleReadingRecorded {
        vehicle_id: "V1".into(),
        odometer_km: 12_000,
        charge_percent: 90,
        at: h(1),
        kind: ReadingKind::Pickup,
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

fn reading(kind: ReadingKind, order: &str, at: OffsetDateTime) -> VehicleReadingRecorded {
    VehicleReadingRecorded {
        vehicle_id: "V1".into(),
        odometer_km: 12_180,
        charge_percent: 30,
        at,
        kind,
        order_id: order.into(),
        station: String::new(),
    }
}

#[test]
fn a_swap_takes_the_broken_car_off_the_hire_and_puts_the_replacement_on_it() {
    // The broken car: on hire, broken down during it, swapped out where it stands.
    let broken = [
        registered("V1"),
        picked_up("O1"),
        VehicleEvent::BreakdownReported(BreakdownReported {
            vehicle_id: "V1".into(),
            at: h(2),
            place: "SHA".into(),
            severity: Severity::Major,
            expected_repair_until: None,
            description: "flat battery".into(),
            during_order_id: Some("O1".into()),
        }),
        VehicleEvent::VehicleReadingRecorded(VehicleReadingRecorded {
            station: "SHA".into(),
            ..reading(ReadingKind::SwapOut, "O1", h(3))
        }),
    ];
    let v = broken.iter().fold(None, VehicleAggregate::evolve).expect("registered");
    assert_eq!(v.on_hire_order_id, None, "off the hire at the swap");
    assert_eq!(v.state_at(h(4)), VehicleStateKind::Breakdown);
    assert_eq!(
        (v.odometer_km, v.charge_percent, v.station.as_str()),
        (12_180, 30, "SHA")
    );
    // Not on hire any more: it may be retired (a write-off) without a return.
    given::<VehicleAggregate>(broken.clone())
        .when(VehicleCommand::Retire {
            at: h(5),
            reason: "write-off".into(),
        })
        .then_ok();

    // The replacement goes on hire from the swap.
    let replacement = [
        registered("V1"),
        VehicleEvent::VehicleReadingRecorded(reading(ReadingKind::SwapIn, "O1", h(3))),
    ];
    let v = replacement
        .iter()
        .fold(None, VehicleAggregate::evolve)
        .expect("registered");
    assert_eq!(v.on_hire_order_id.as_deref(), Some("O1"));
    assert_eq!(v.on_hire_since, Some(h(3)));
    assert_eq!(v.state_at(h(4)), VehicleStateKind::OnHire);
    given::<VehicleAggregate>(replacement)
        .when(VehicleCommand::Retire {
            at: h(5),
            reason: "sold".into(),
        })
        .then_err(VehicleError::OnHire("O1".into()));
}

#[test]
fn a_breakdown_during_a_hire_records_the_order_to_swap() {
    let events = given::<VehicleAggregate>([registered("V1"), picked_up("O1")])
        .when(breakdown())
        .then_ok();
    let [VehicleEvent::BreakdownReported(b)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(b.during_order_id.as_deref(), Some("O1"));
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
    let retired = VehicleEvent::VehicleRetired(VehicleRetired {
        vehicle_id: "V1".into(),
        at: h(1),
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
fn a_frozen_window_of_zero_can_be_set_and_an_unset_one_keeps_the_citys() {
    let configure = |frozen: Option<u32>| CityCommand::Configure {
        city: "SHA".into(),
        name: "上海".into(),
        default_station: String::new(),
        delivery_minutes: 30,
        frozen_window_minutes: frozen,
    };
    let window = |events: &[CityEvent]| match events.first() {
        Some(CityEvent::CityConfigured(c)) => c.frozen_window_minutes,
        other => panic!("expected CityConfigured, got {other:?}"),
    };
    // A new city without a window gets the default; with 0, none.
    let created = given::<CityAggregate>([]).when(configure(None)).then_ok();
    assert_eq!(window(&created), DEFAULT_FROZEN_WINDOW_MINUTES);
    let none = given::<CityAggregate>([]).when(configure(Some(0))).then_ok();
    assert_eq!(window(&none), 0);
    // Unset again: the city keeps 0 (nothing to record); 45 is recorded as 45.
    given::<CityAggregate>(none.clone()).when(configure(None)).then(vec![]);
    let changed = given::<CityAggregate>(none).when(configure(Some(45))).then_ok();
    assert_eq!(window(&changed), 45);
}

#[test]
fn a_new_city_is_configured_with_the_default_turnaround_and_ladder_as_events() {
    let events = given::<CityAggregate>([])
        .when(CityCommand::Configure {
            city: "SHA".into(),
            name: "Shanghai".into(),
            default_station: String::new(),
            delivery_minutes: 30,
            frozen_window_minutes: Some(120),
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
        low_charge: None,
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
    let listed: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(listed.len(), names.len(), "an event name is listed twice: {names:?}");
    let covered: BTreeSet<&str> = events.iter().map(C::name).collect();
    assert_eq!(covered, listed);
    assert_round_trip::<C>(events);
}

/// One vehicle event of each kind, with every field set to a value the rules could produce
/// (times with sub-second parts, optional fields set).
fn vehicle_events() -> Vec<VehicleEvent> {
    let t = h(5) + time::Duration::microseconds(123_456);
    // Exhaustive on purpose: a new kind does not compile until it is listed below.
    let _kinds = |e: &VehicleEvent| match e {
        VehicleEvent::VehicleRegistered(_)
        | VehicleEvent::VehicleMoved(_)
        | VehicleEvent::BreakdownReported(_)
        | VehicleEvent::RepairCompleted(_)
        | VehicleEvent::MaintenanceScheduled(_)
        | VehicleEvent::VehicleRetired(_)
        | VehicleEvent::VehicleReadingRecorded(_)
        | VehicleEvent::VehiclePlateChanged(_) => (),
    };
    vec![
        registered("V9"),
        VehicleEvent::VehiclePlateChanged(VehiclePlateChanged {
            vehicle_id: "V9".into(),
            from_plate: Plate::parse("沪A·D12345").unwrap(),
            to_plate: Plate::parse("沪A·F12345").unwrap(),
            at: t,
            reason: "plate damaged".into(),
        }),
        VehicleEvent::VehicleMoved(VehicleMoved {
            vehicle_id: "V9".into(),
            from_station: "PVG".into(),
            to_station: "SHA".into(),
            moved_at: t,
            reason: "demand at Hongqiao".into(),
            driven_by: Some(DrivenBy::Driver("D1".into())),
            departed_at: t - time::Duration::minutes(50),
            task_order_id: Some("O9".into()),
        }),
        VehicleEvent::VehicleMoved(VehicleMoved {
            vehicle_id: "V9".into(),
            from_station: "SHA".into(),
            to_station: "PVG".into(),
            moved_at: t,
            reason: String::new(),
            driven_by: Some(DrivenBy::Staff("ops:zhang".into())),
            departed_at: t,
            task_order_id: None,
        }),
        VehicleEvent::BreakdownReported(BreakdownReported {
            vehicle_id: "V9".into(),
            at: t,
            place: "上海市浦东新区世纪大道 100 号".into(),
            severity: Severity::Critical,
            expected_repair_until: Some(t + time::Duration::days(2)),
            description: "collision, front bumper".into(),
            during_order_id: Some("O7".into()),
        }),
        VehicleEvent::BreakdownReported(BreakdownReported {
            vehicle_id: "V9".into(),
            at: t,
            place: "PVG".into(),
            severity: Severity::Minor,
            expected_repair_until: None,
            description: String::new(),
            during_order_id: None,
        }),
        VehicleEvent::RepairCompleted(RepairCompleted {
            vehicle_id: "V9".into(),
            at: t + time::Duration::days(1),
            station: "SHA".into(),
            notes: "bumper replaced".into(),
        }),
        VehicleEvent::MaintenanceScheduled(MaintenanceScheduled {
            vehicle_id: "V9".into(),
            from: h(50),
            to: h(52),
            reason: "tyres".into(),
        }),
        VehicleEvent::VehicleRetired(VehicleRetired {
            vehicle_id: "V9".into(),
            at: h(900),
            reason: "sold".into(),
        }),
        VehicleEvent::VehicleReadingRecorded(VehicleReadingRecorded {
            vehicle_id: "V9".into(),
            odometer_km: 48_213,
            charge_percent: 37,
            at: t,
            kind: ReadingKind::Return,
            order_id: "O7".into(),
            station: "SHA".into(),
        }),
        picked_up("O8"),
        VehicleEvent::VehicleReadingRecorded(VehicleReadingRecorded {
            kind: ReadingKind::SwapOut,
            station: "PVG".into(),
            ..reading(ReadingKind::SwapOut, "O8", h(3))
        }),
        VehicleEvent::VehicleReadingRecorded(reading(ReadingKind::SwapIn, "O8", h(3))),
    ]
}

fn driver_events() -> Vec<DriverEvent> {
    let _kinds = |e: &DriverEvent| match e {
        DriverEvent::DriverRegistered(_) | DriverEvent::ShiftScheduled(_) => (),
    };
    vec![
        DriverEvent::DriverRegistered(DriverRegistered {
            driver_id: "D1".into(),
            name: "王伟".into(),
            phone: "+86 138 0013 8000".into(),
            city: "SHA".into(),
            registered_at: NOW,
        }),
        DriverEvent::ShiftScheduled(ShiftScheduled {
            driver_id: "D1".into(),
            shift_id: "S1".into(),
            from: h(8),
            to: h(16) + time::Duration::seconds(30),
            station: "PVG".into(),
        }),
    ]
}

fn city_events() -> Vec<CityEvent> {
    let _kinds = |e: &CityEvent| match e {
        CityEvent::CityConfigured(_)
        | CityEvent::StationAdded(_)
        | CityEvent::TravelTimesSet(_)
        | CityEvent::TurnaroundSet(_)
        | CityEvent::UpgradesSet(_) => (),
    };
    vec![
        CityEvent::CityConfigured(CityConfigured {
            city: "SHA".into(),
            name: "上海".into(),
            default_station: "PVG".into(),
            delivery_minutes: 45,
            frozen_window_minutes: 90,
        }),
        CityEvent::StationAdded(StationAdded {
            city: "SHA".into(),
            station_id: "PVG".into(),
            name: "浦东机场".into(),
            districts: vec!["浦东新区".into(), "闵行区".into()],
        }),
        CityEvent::TravelTimesSet(TravelTimesSet {
            city: "SHA".into(),
            times: vec![
                TravelTime {
                    from_station: "PVG".into(),
                    to_station: "SHA".into(),
                    minutes: 55,
                },
                TravelTime {
                    from_station: "SHA".into(),
                    to_station: "PVG".into(),
                    minutes: 60,
                },
            ],
        }),
        CityEvent::TurnaroundSet(TurnaroundSet {
            city: "SHA".into(),
            minutes: 45,
            low_charge: None,
        }),
        CityEvent::TurnaroundSet(TurnaroundSet {
            city: "SHA".into(),
            minutes: 45,
            low_charge: Some(LowCharge {
                below_percent: 20,
                extra_minutes: 90,
            }),
        }),
        CityEvent::UpgradesSet(UpgradesSet {
            city: "SHA".into(),
            ladder: default_ladder(),
        }),
    ]
}

fn plan_events() -> Vec<PlanEvent> {
    let _kinds = |e: &PlanEvent| match e {
        PlanEvent::VehicleAssigned(_)
        | PlanEvent::VehicleReassigned(_)
        | PlanEvent::AssignmentReleased(_)
        | PlanEvent::OrderAtRisk(_)
        | PlanEvent::DriverTaskAssigned(_)
        | PlanEvent::DriverTaskUnassigned(_)
        | PlanEvent::PlanOrdersClosed(_)
        | PlanEvent::PlanPublished(_) => (),
    };
    vec![
        PlanEvent::VehicleAssigned(VehicleAssigned {
            order_id: "O1".into(),
            vehicle_id: "V1".into(),
            plate: "沪A·D12345".into(),
            model: VehicleModel::Es8,
            upgrade: true,
            plan_id: "P1".into(),
            assigned_at: NOW,
        }),
        PlanEvent::VehicleReassigned(VehicleReassigned {
            order_id: "O1".into(),
            from_vehicle_id: "V1".into(),
            vehicle_id: "V2".into(),
            plate: "沪A·F54321".into(),
            model: VehicleModel::Es6,
            upgrade: false,
            plan_id: "P2".into(),
            reason: "breakdown of V1".into(),
            assigned_at: h(1),
        }),
        PlanEvent::AssignmentReleased(AssignmentReleased {
            order_id: "O1".into(),
            vehicle_id: "V2".into(),
            reason: "order cancelled".into(),
            plan_id: "P3".into(),
            released_at: h(2),
        }),
        PlanEvent::OrderAtRisk(OrderAtRisk {
            order_id: "O2".into(),
            reason: "NO_COMPATIBLE_MODEL".into(),
            explanation: "no ET7 and no allowed upgrade in the fleet".into(),
            plan_id: "P3".into(),
            flagged_at: h(2),
        }),
        PlanEvent::DriverTaskAssigned(DriverTaskAssigned {
            order_id: "O3".into(),
            kind: TaskKind::Collection,
            driver_id: "D1".into(),
            shift_id: "S1".into(),
            from: h(9),
            to: h(10),
            station: "PVG".into(),
            address: "上海市浦东新区世纪大道 100 号".into(),
            plan_id: "P3".into(),
            to_station: String::new(),
            vehicle_id: String::new(),
        }),
        PlanEvent::DriverTaskAssigned(DriverTaskAssigned {
            order_id: "O4".into(),
            kind: TaskKind::Relocation,
            driver_id: "D2".into(),
            shift_id: "S2".into(),
            from: h(9),
            to: h(10),
            station: "SHA".into(),
            address: String::new(),
            plan_id: "P3".into(),
            to_station: "PVG".into(),
            vehicle_id: "V7".into(),
        }),
        PlanEvent::DriverTaskUnassigned(DriverTaskUnassigned {
            order_id: "O3".into(),
            kind: TaskKind::Delivery,
            reason: "no shift covers the task".into(),
            plan_id: "P4".into(),
            previous_driver_id: Some("D1".into()),
            withdrawn: false,
        }),
        PlanEvent::DriverTaskUnassigned(DriverTaskUnassigned {
            order_id: "O4".into(),
            kind: TaskKind::Collection,
            reason: "the task is no longer needed".into(),
            plan_id: "P4".into(),
            previous_driver_id: None,
            withdrawn: true,
        }),
        PlanEvent::PlanOrdersClosed(PlanOrdersClosed {
            order_ids: vec!["O5".into(), "O6".into()],
            reason: "handed over".into(),
            plan_id: "P4".into(),
        }),
        PlanEvent::PlanPublished(PlanPublished {
            city: "SHA".into(),
            plan_id: "P4".into(),
            planned_at: h(3),
            orders: 120,
            fulfilled: 117,
            upgrades: 4,
            relocation_minutes: 340,
            moved_from_previous: 2,
            fulfilment_rate: 117.0 / 120.0,
            idle_rate: 0.125,
            proven_optimal: false,
            upper_bound_fulfilled: 118,
            trigger: "fleet:BreakdownReported".into(),
            driver_minutes: 410,
        }),
    ]
}

#[test]
fn every_event_kind_round_trips_through_its_bytes() {
    // One of each kind with realistic values, then events as the rules make them.
    let mut vehicle = vehicle_events();
    vehicle.extend(
        given::<VehicleAggregate>([registered("V1"), picked_up("O1")])
            .when(breakdown())
            .then_ok(),
    );
    round_trip_every_kind::<VehicleAggregate>(VehicleEvent::NAMES, vehicle);

    let mut city = city_events();
    city.extend(
        given::<CityAggregate>([])
            .when(CityCommand::Configure {
                city: "SHA".into(),
                name: "Shanghai".into(),
                default_station: String::new(),
                delivery_minutes: 30,
                frozen_window_minutes: Some(120),
            })
            .then_ok(),
    );
    round_trip_every_kind::<CityAggregate>(CityEvent::NAMES, city);

    let (made, _) = run(
        &PlanState::default(),
        replan(
            NOW,
            vec![order("O1", VehicleModel::Es6, 10)],
            vec![car("V1", VehicleModel::Es6)],
        ),
    );
    let mut plan = plan_events();
    plan.extend(made);
    round_trip_every_kind::<PlanAggregate>(PlanEvent::NAMES, plan);

    round_trip_every_kind::<DriverAggregate>(DriverEvent::NAMES, driver_events());
    round_trip_every_kind::<PlateAggregate>(
        PlateEvent::NAMES,
        vec![
            PlateEvent::PlateClaimed(PlateClaimed {
                plate: plate("沪A·D00001"),
                vehicle_id: "V1".into(),
                at: h(1) + time::Duration::microseconds(7),
                claimed_at: h(5),
            }),
            PlateEvent::PlateReleased(PlateReleased {
                plate: plate("沪A·D00001"),
                vehicle_id: "V1".into(),
                at: h(2),
                reason: ReleaseReason::Retired,
            }),
            PlateEvent::PlateReleased(PlateReleased {
                plate: plate("沪A·D00001"),
                vehicle_id: "V2".into(),
                at: h(3),
                reason: ReleaseReason::NotRegistered,
            }),
            PlateEvent::PlateReleased(PlateReleased {
                plate: plate("沪A·D00001"),
                vehicle_id: "V3".into(),
                at: h(4),
                reason: ReleaseReason::Replated,
            }),
        ],
    );
}

fn plate(text: &str) -> Plate {
    Plate::parse(text).unwrap()
}

fn claim(vehicle: &str, at: OffsetDateTime, holder: Option<Holder>) -> PlateCommand {
    claim_late(vehicle, at, at, holder)
}

/// A claim made at `now` of a plate carried since `at`.
fn claim_late(vehicle: &str, at: OffsetDateTime, now: OffsetDateTime, holder: Option<Holder>) -> PlateCommand {
    PlateCommand::Claim {
        plate: plate("沪A·D00001"),
        vehicle_id: vehicle.into(),
        at,
        now,
        holder,
        stale_after: time::Duration::minutes(5),
    }
}

fn claimed(vehicle: &str, at: OffsetDateTime) -> PlateEvent {
    claimed_late(vehicle, at, at)
}

fn claimed_late(vehicle: &str, at: OffsetDateTime, claimed_at: OffsetDateTime) -> PlateEvent {
    PlateEvent::PlateClaimed(PlateClaimed {
        plate: plate("沪A·D00001"),
        vehicle_id: vehicle.into(),
        at,
        claimed_at,
    })
}

#[test]
fn a_plate_claimed_after_the_fact_keeps_its_history_in_time_order() {
    // A car entered late carries its plate from the past on.
    given::<PlateAggregate>([])
        .when(claim_late("V1", h(1), h(9), None))
        .then(vec![claimed_late("V1", h(1), h(9))]);
    // Not from before the plate's last change: another car carried it until h(3).
    let released = PlateEvent::PlateReleased(PlateReleased {
        plate: plate("沪A·D00001"),
        vehicle_id: "V1".into(),
        at: h(3),
        reason: ReleaseReason::Retired,
    });
    let earlier = PlateError::Earlier {
        plate: "沪A·D00001".into(),
        vehicle_id: "V1".into(),
        last: h(3),
        at: h(2),
    };
    given::<PlateAggregate>([claimed("V1", h(1)), released.clone()])
        .when(claim_late("V2", h(2), h(9), None))
        .then_err(earlier.clone());
    assert!(earlier.to_string().contains("would overlap its history"), "{earlier}");
    given::<PlateAggregate>([claimed("V1", h(1)), released])
        .when(claim_late("V2", h(3), h(9), None))
        .then(vec![claimed_late("V2", h(3), h(9))]);
    // Staleness counts from when the claim was made, not from the past it starts at.
    let soon = h(9) + time::Duration::minutes(4);
    given::<PlateAggregate>([claimed_late("V1", h(1), h(9))])
        .when(claim_late("V2", soon, soon, Some(Holder::NotRegistered)))
        .then_err(PlateError::InUse {
            plate: "沪A·D00001".into(),
            vehicle_id: "V1".into(),
        });
}

#[test]
fn a_plate_is_carried_by_one_vehicle_at_a_time() {
    given::<PlateAggregate>([])
        .when(claim("V1", h(1), None))
        .then(vec![claimed("V1", h(1))]);
    // The same vehicle again (a retried registration): nothing new.
    given::<PlateAggregate>([claimed("V1", h(1))])
        .when(claim("V1", h(2), None))
        .then(vec![]);
    // Another vehicle: refused, naming the one that has it.
    given::<PlateAggregate>([claimed("V1", h(1))])
        .when(claim("V2", h(2), Some(Holder::Carries)))
        .then_err(PlateError::InUse {
            plate: "沪A·D00001".into(),
            vehicle_id: "V1".into(),
        });
    assert_eq!(
        PlateError::InUse {
            plate: "沪A·D00001".into(),
            vehicle_id: "V1".into(),
        }
        .to_string(),
        "plate 沪A·D00001 is carried by vehicle V1"
    );
}

#[test]
fn a_released_plate_is_issued_again_and_a_stale_claim_is_taken_over() {
    let released = PlateEvent::PlateReleased(PlateReleased {
        plate: plate("沪A·D00001"),
        vehicle_id: "V1".into(),
        at: h(3),
        reason: ReleaseReason::Retired,
    });
    given::<PlateAggregate>([claimed("V1", h(1)), released.clone()])
        .when(claim("V2", h(4), None))
        .then(vec![claimed("V2", h(4))]);
    // Only the holder's release frees it.
    given::<PlateAggregate>([claimed("V1", h(1))])
        .when(PlateCommand::Release {
            vehicle_id: "V2".into(),
            at: h(2),
            reason: ReleaseReason::Retired,
        })
        .then(vec![]);
    // The holder was retired but its release was lost: taken over, the release recorded.
    let lost = |reason| {
        PlateEvent::PlateReleased(PlateReleased {
            plate: plate("沪A·D00001"),
            vehicle_id: "V1".into(),
            at: h(4),
            reason,
        })
    };
    given::<PlateAggregate>([claimed("V1", h(1))])
        .when(claim("V2", h(4), Some(Holder::Gone(ReleaseReason::Retired))))
        .then(vec![lost(ReleaseReason::Retired), claimed("V2", h(4))]);
    // A claim whose registration never happened: stale after five minutes, not before.
    let at = h(1) + time::Duration::minutes(4);
    given::<PlateAggregate>([claimed("V1", h(1))])
        .when(claim("V2", at, Some(Holder::NotRegistered)))
        .then_err(PlateError::InUse {
            plate: "沪A·D00001".into(),
            vehicle_id: "V1".into(),
        });
    given::<PlateAggregate>([claimed("V1", h(1))])
        .when(claim("V2", h(4), Some(Holder::NotRegistered)))
        .then(vec![lost(ReleaseReason::NotRegistered), claimed("V2", h(4))]);
}

#[test]
fn a_car_is_replated_from_a_moment_on() {
    let state = given::<VehicleAggregate>([registered("V1")])
        .when(VehicleCommand::ChangePlate {
            plate: plate("沪AF00009"),
            at: h(2),
            reason: "plate damaged".into(),
        })
        .then(vec![VehicleEvent::VehiclePlateChanged(VehiclePlateChanged {
            vehicle_id: "V1".into(),
            from_plate: plate("沪A·D12345"),
            to_plate: plate("沪A·F00009"),
            at: h(2),
            reason: "plate damaged".into(),
        })])
        .expect("registered");
    assert_eq!(state.plate, "沪A·F00009");
    // Its own plate again, in any spelling: nothing to change.
    given::<VehicleAggregate>([registered("V1")])
        .when(VehicleCommand::ChangePlate {
            plate: plate("沪ad12345"),
            at: h(2),
            reason: String::new(),
        })
        .then(vec![]);
}

#[test]
fn the_wire_messages_are_those_of_events_proto() {
    // The wire form is the proto message itself, under its own name: what is stored decodes.
    let wire = pb::VehicleRegistered {
        vehicle_id: "V1".into(),
        vin: "LNBSCB3F5KW123456".into(),
        plate: "沪A·D12345".into(),
        model: model_to_pb(VehicleModel::Es6),
        city: "SHA".into(),
        home_station: "PVG".into(),
        registered_at: Some(ts(NOW)),
    };
    let bytes = prost::Message::encode_to_vec(&wire);
    assert_eq!(
        VehicleAggregate::decode("VehicleRegistered", &bytes),
        Ok(registered("V1"))
    );
    assert_eq!(VehicleAggregate::encode(&registered("V1")), bytes);
}

#[test]
fn what_the_codec_cannot_read_is_named() {
    let e = registered("V9");
    let payload = VehicleAggregate::encode(&e);
    assert_eq!(
        VehicleAggregate::decode("Nope", &payload),
        Err(DecodeError::UnknownEvent { name: "Nope".into() })
    );
    let good = pb::VehicleRegistered {
        plate: "沪A·D12345".into(),
        model: model_to_pb(VehicleModel::Es6),
        registered_at: Some(ts(NOW)),
        ..Default::default()
    };
    let field_of =
        |name: &str, m: &pb::VehicleRegistered| match VehicleAggregate::decode(name, &prost::Message::encode_to_vec(m))
        {
            Err(DecodeError::InvalidField { name, field, .. }) | Err(DecodeError::MissingField { name, field }) => {
                (name, field)
            }
            other => panic!("expected a refused field, got {other:?}"),
        };
    let named = |field: &str| ("VehicleRegistered".to_string(), field.to_string());
    let out_of_range = pb::VehicleRegistered {
        registered_at: Some(prost_types::Timestamp { seconds: -5, nanos: 0 }),
        ..good.clone()
    };
    assert_eq!(field_of("VehicleRegistered", &out_of_range), named("registered_at"));
    let unset = pb::VehicleRegistered {
        registered_at: None,
        ..good.clone()
    };
    assert_eq!(field_of("VehicleRegistered", &unset), named("registered_at"));
    let bad_plate = pb::VehicleRegistered {
        plate: "ABC".into(),
        ..good.clone()
    };
    assert_eq!(field_of("VehicleRegistered", &bad_plate), named("plate"));
    let bad_model = pb::VehicleRegistered { model: 999, ..good };
    assert_eq!(field_of("VehicleRegistered", &bad_model), named("model"));

    let bad_severity = pb::BreakdownReported {
        at: Some(ts(NOW)),
        severity: 42,
        ..Default::default()
    };
    let err = VehicleAggregate::decode("BreakdownReported", &prost::Message::encode_to_vec(&bad_severity));
    assert!(
        matches!(&err, Err(DecodeError::InvalidField { name, field, .. }) if name == "BreakdownReported" && field == "severity"),
        "{err:?}"
    );
    let bad_ladder = pb::UpgradesSet {
        city: "SHA".into(),
        rules: vec![pb::UpgradeRule {
            model: model_to_pb(VehicleModel::Es6),
            may_be_served_by: vec![model_to_pb(VehicleModel::Es8), 77],
        }],
    };
    let err = CityAggregate::decode("UpgradesSet", &prost::Message::encode_to_vec(&bad_ladder));
    assert!(
        matches!(&err, Err(DecodeError::InvalidField { field, .. }) if field == "rules[0].may_be_served_by[1]"),
        "{err:?}"
    );
    let bad_kind = pb::DriverTaskUnassigned {
        kind: 0,
        ..Default::default()
    };
    let err = PlanAggregate::decode("DriverTaskUnassigned", &prost::Message::encode_to_vec(&bad_kind));
    assert!(
        matches!(&err, Err(DecodeError::InvalidField { field, .. }) if field == "kind"),
        "{err:?}"
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
            frozen_window_minutes: Some(120),
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
    let repaired = VehicleEvent::RepairCompleted(RepairCompleted {
        vehicle_id: "V1".into(),
        at: h(30),
        station: "SHA".into(),
        notes: String::new(),
    });
    let maintenance = VehicleEvent::MaintenanceScheduled(MaintenanceScheduled {
        vehicle_id: "V1".into(),
        from: h(50),
        to: h(52),
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

#[test]
fn a_car_returned_with_little_charge_needs_longer_to_turn_around() {
    let configured = given::<CityAggregate>([])
        .when(CityCommand::Configure {
            city: "SHA".into(),
            name: "Shanghai".into(),
            default_station: String::new(),
            delivery_minutes: 30,
            frozen_window_minutes: None,
        })
        .then_ok();
    let rule = LowCharge {
        below_percent: 20,
        extra_minutes: 90,
    };
    let city = given::<CityAggregate>(configured.clone())
        .when(CityCommand::SetTurnaround {
            minutes: 60,
            low_charge: Some(Some(rule)),
        })
        .then(vec![CityEvent::TurnaroundSet(TurnaroundSet {
            city: "SHA".into(),
            minutes: 60,
            low_charge: Some(rule),
        })])
        .expect("configured");
    assert_eq!(city.turnaround_after(19), 150);
    assert_eq!(city.turnaround_after(20), 60, "at the level: no extra");
    assert_eq!(city.turnaround_after(100), 60);

    // Changing the minutes alone keeps the rule; the rule is switched off explicitly.
    let mut history = configured.clone();
    history.push(CityEvent::TurnaroundSet(TurnaroundSet {
        city: "SHA".into(),
        minutes: 60,
        low_charge: Some(rule),
    }));
    let kept = given::<CityAggregate>(history.clone())
        .when(CityCommand::SetTurnaround {
            minutes: 45,
            low_charge: None,
        })
        .then_ok();
    assert!(
        matches!(kept.as_slice(), [CityEvent::TurnaroundSet(t)] if t.low_charge == Some(rule)),
        "{kept:?}"
    );
    given::<CityAggregate>(history.clone())
        .when(CityCommand::SetTurnaround {
            minutes: 60,
            low_charge: Some(Some(rule)),
        })
        .then(vec![]);
    let off = given::<CityAggregate>(history.clone())
        .when(CityCommand::SetTurnaround {
            minutes: 60,
            low_charge: Some(None),
        })
        .then_ok();
    assert!(
        matches!(off.as_slice(), [CityEvent::TurnaroundSet(t)] if t.low_charge.is_none()),
        "{off:?}"
    );
    given::<CityAggregate>(history)
        .when(CityCommand::SetTurnaround {
            minutes: 60,
            low_charge: Some(Some(LowCharge {
                below_percent: 101,
                extra_minutes: 10,
            })),
        })
        .then_err(CityError::Invalid {
            field: "low_charge_below_percent".into(),
            message: "1 to 100 (0 for no low-charge rule)".into(),
        });
}

#[test]
fn a_car_the_plan_moves_between_stations_is_a_drivers_relocation_task() {
    // The only car stands at SHA; the order picks up at PVG, 50 min away, at +10 h.
    let mut v = car("V1", VehicleModel::Es6);
    v.station = "SHA".into();
    let mut input = replan(NOW, vec![order("O1", VehicleModel::Es6, 10)], vec![v]);
    let relocation = |events: &[PlanEvent]| {
        events
            .iter()
            .find_map(|e| match e {
                PlanEvent::DriverTaskAssigned(t) if t.kind == TaskKind::Relocation => Some(Ok(t.clone())),
                PlanEvent::DriverTaskUnassigned(t) if t.kind == TaskKind::Relocation => Some(Err(t.clone())),
                _ => None,
            })
            .expect("a relocation task")
    };
    // No driver on shift: the move is flagged, and the car stays the order's.
    let (events, state) = run(&PlanState::default(), input.clone());
    let flagged = relocation(&events).expect_err("no driver");
    assert_eq!(flagged.order_id, "O1");
    assert!(!flagged.withdrawn);
    assert_eq!(state.assignments["O1"].vehicle_id, "V1");

    // A driver whose shift starts at SHA in time takes it: leave SHA 50 min before pickup.
    input.shifts.push(PlanShift {
        driver_id: "D1".into(),
        shift_id: "S1".into(),
        from: h(8),
        to: h(12),
        station: "SHA".into(),
    });
    let (events, state) = run(&state, input.clone());
    let task = relocation(&events).expect("a driver");
    assert_eq!(
        (
            task.driver_id.as_str(),
            task.station.as_str(),
            task.to_station.as_str(),
            task.vehicle_id.as_str()
        ),
        ("D1", "SHA", "PVG", "V1")
    );
    assert_eq!((task.from, task.to), (h(10) - time::Duration::minutes(50), h(10)));
    let published = events
        .iter()
        .find_map(|e| match e {
            PlanEvent::PlanPublished(p) => Some(p.clone()),
            _ => None,
        })
        .expect("published");
    assert_eq!(published.driver_minutes, 50, "driver minutes count the relocation");
    assert_eq!(state.tasks.len(), 1);

    // A shift that ends at PVG too early to come back (it must return to SHA by its end) does
    // not do.
    input.shifts[0].to = h(10) + time::Duration::minutes(30);
    let (events, _) = run(&PlanState::default(), input);
    relocation(&events).expect_err("the driver could not get back to SHA");
}
