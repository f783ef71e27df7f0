//! Every flow between the four services, as the desk lives it, with each service on its own
//! runtime, one nats-server, SQLite or PostgreSQL, and a clock the test moves:
//!
//! 1. two orders confirmed → fleet's plan gives each a car → the orders show them;
//! 2. a breakdown during one hire → the re-plan → a swap recorded on the order;
//! 3. a staff member moves a third car between stations;
//! 4. the returns, one with damage → receivables opens a repair claim → finance confirms it →
//!    it is charged;
//! 5. violations imported weeks later, in a batch with a duplicate → each matched to whoever had
//!    the car: the renter before and after the swap, the staff member during the move → the
//!    ladder takes the renters' to the charge → after the deposit period the first hire's
//!    charges are deducted from its violation deposit;
//! 6. a billing complaint about the second hire's charge (no deposit, so owed) → the ladder stands
//!    still (no hand-over to collections) → resolved with a waiver → the ledger shows it;
//! 7. complaint analysis: cases per 1,000 orders, counted from the order events.
//!
//! Then the same week with one service killed in the middle of each flow — fleet right after the
//! first confirmation, order right after the breakdown, receivables right after the damaged
//! return, complaint and receivables around the complaint — and started again: each picks up
//! where it stopped, and the week ends exactly as without the kills (nothing lost, nothing done
//! twice: every event, claim, match and booking counted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use rentops_e2e::{Cluster, cny, rid, station, ts, until_within, violation};
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::complaint as cpb;
use rentops_proto::fleet as fpb;
use rentops_proto::order as opb;
use rentops_proto::receivables as rpb;
use rentops_runtime::ManualClock;
use rentops_testkit::TestDatabase;
use time::OffsetDateTime;

/// How long a step may take to show after a kill: an event the dead service had been handed
/// but not acknowledged comes back after its consumer's ack wait (30 s).
const AFTER_A_KILL: Duration = Duration::from_secs(90);

fn morning() -> OffsetDateTime {
    let day = OffsetDateTime::now_utc().date().next_day().expect("a tomorrow");
    day.with_hms(1, 0, 0).expect("01:00").assume_utc()
}

fn hours(h: f64) -> time::Duration {
    time::Duration::seconds_f64(h * 3600.0)
}

fn within(seq: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence: seq,
        timeout_ms: 30_000,
    })
}

fn line(kind: rpb::InvoiceLineKind, what: &str, fen: i64) -> rpb::InvoiceLineInput {
    rpb::InvoiceLineInput {
        kind: kind as i32,
        description: what.into(),
        amount: cny(fen),
        document_ref: "INV-E2E-1".into(),
    }
}

/// Which services to kill in the middle of the flows.
#[derive(Clone, Copy, PartialEq)]
enum Kills {
    None,
    EachMidway,
}

/// The order once `ready` holds, waiting long enough for a restarted service to catch up.
async fn order_when(c: &Cluster, order_id: &str, what: &str, ready: impl Fn(&opb::Order) -> bool) -> opb::Order {
    let (oc, min_sequence) = (c.oc.clone(), c.order_sequence);
    until_within(c.label, what, AFTER_A_KILL, || {
        let mut oc = oc.clone();
        let ready = &ready;
        async move {
            let o = oc
                .get_order(opb::GetOrderRequest {
                    order_id: order_id.into(),
                    as_of: None,
                    consistency: within(min_sequence),
                })
                .await
                .expect("get order")
                .into_inner()
                .order
                .expect("an order");
            let done = ready(&o);
            (o, done)
        }
    })
    .await
}

/// The event types of an order's history, counted.
async fn history(c: &mut Cluster, order_id: &str) -> BTreeMap<String, usize> {
    let seq = c.last_sequence("ORDER").await;
    let entries =
        c.oc.get_order_history(opb::GetOrderHistoryRequest {
            order_id: order_id.into(),
            consistency: within(seq),
        })
        .await
        .expect("history")
        .into_inner()
        .entries;
    let mut counts = BTreeMap::new();
    for e in entries {
        *counts.entry(e.event_type).or_insert(0) += 1;
    }
    counts
}

/// Waits until receivables has read the order and fleet streams to their ends.
async fn receivables_caught_up(c: &Cluster) {
    let order_seq = c.last_sequence("ORDER").await;
    let fleet_seq = c.last_sequence("FLEET").await;
    let rx = c.receivables.app();
    rx.hires
        .checkpoints
        .wait_for(order_seq, AFTER_A_KILL)
        .await
        .expect("hires read");
    rx.fleet
        .checkpoints
        .wait_for(fleet_seq, AFTER_A_KILL)
        .await
        .expect("plates and moves read");
}

async fn statement(c: &mut Cluster, customer: &str) -> rpb::GetStatementResponse {
    let seq = c.last_sequence("RECEIVABLES").await;
    c.rc.get_statement(rpb::GetStatementRequest {
        customer_id: customer.into(),
        consistency: within(seq),
        ..Default::default()
    })
    .await
    .expect("statement")
    .into_inner()
}

/// Whole passes of receivables' deposit and ladder scans at each of `days` after `from`: each
/// step of the ladder and the deposits happens at its own day. A day's passes start once the
/// view holds what the day before booked (the deposits deduct the charges the ladder raised),
/// as a day's wait would make sure of in the real world.
async fn play_days(c: &Cluster, from: OffsetDateTime, days: &[i64]) {
    for day in days {
        let booked = c.last_sequence("RECEIVABLES").await;
        let rx = c.receivables.app();
        rx.projector
            .checkpoints
            .wait_for(booked, AFTER_A_KILL)
            .await
            .expect("the day before's bookings in the view");
        c.clock.set(from + time::Duration::days(*day));
        rx.deposit_scan
            .next_full_pass(AFTER_A_KILL)
            .await
            .expect("a deposits pass");
        rx.ladder_scan
            .next_full_pass(AFTER_A_KILL)
            .await
            .expect("a ladder pass");
    }
}

fn kinds(s: &rpb::GetStatementResponse) -> Vec<rpb::BookingKind> {
    s.lines
        .iter()
        .map(|l| rpb::BookingKind::try_from(l.kind).expect("a booking kind"))
        .collect()
}

const PLATES: [(&str, &str, VehicleModel, &str); 4] = [
    ("V1", "沪AD00001", VehicleModel::Es6, "PVG"),
    ("V2", "沪AD00002", VehicleModel::Ec6, "SHA"),
    ("V3", "沪AD00003", VehicleModel::Et5, "PVG"),
    ("V4", "沪AD00004", VehicleModel::Es6, "PVG"),
];

fn plate(vehicle: &str) -> &'static str {
    PLATES.iter().find(|p| p.0 == vehicle).expect("a known car").1
}

async fn week(dbs: [&TestDatabase; 4], kills: Kills) {
    let t0 = morning();
    let clock = ManualClock::at(t0);
    let mut c = Cluster::start(dbs, clock.clone()).await;
    let label = c.label;
    let kill = kills == Kills::EachMidway;

    c.city_sha().await;
    for (id, plate, model, at) in PLATES {
        c.register(id, plate, model, at).await;
    }
    // Fleet knows every car before the first order: a plan made while a registration was still
    // on its way would give the order an upgrade that the frozen window then keeps.
    let fleet_seq = c.last_sequence("FLEET").await;
    c.fleet
        .app()
        .fleet_projector
        .checkpoints
        .wait_for(fleet_seq, AFTER_A_KILL)
        .await
        .expect("the cars registered");

    // 1. Two orders confirmed; fleet dies right after the first confirmation is acknowledged.
    let a = c
        .confirmed_order("APP-WEEK-A", VehicleModel::Es6, t0 + hours(2.0), t0 + hours(26.0))
        .await;
    if kill {
        c.fleet.kill().await;
    }
    let b = c
        .confirmed_order_with("APP-WEEK-B", VehicleModel::Es6, t0 + hours(3.0), t0 + hours(27.0), 0)
        .await;
    if kill {
        c.fleet.restart().await;
    }
    let oa = order_when(&c, &a, "a car for A", |o| !o.assigned_vehicle_id.is_empty()).await;
    let ob = order_when(&c, &b, "a car for B", |o| !o.assigned_vehicle_id.is_empty()).await;
    let (car_a, car_b) = (oa.assigned_vehicle_id.clone(), ob.assigned_vehicle_id.clone());
    // Each an ES6 or the EC6 it may be upgraded to.
    assert!(
        car_a != car_b
            && [&car_a, &car_b]
                .iter()
                .all(|v| ["V1", "V2", "V4"].contains(&v.as_str())),
        "{label}: {car_a} {car_b}"
    );

    // The hires.
    for (order, car, at) in [(&a, &car_a, 2.0), (&b, &car_b, 3.0)] {
        clock.set(t0 + hours(at));
        let done =
            c.oc.record_pickup(opb::RecordPickupRequest {
                context: rid(),
                order_id: order.clone(),
                vehicle_id: car.clone(),
                plate: plate(car).into(),
                odometer_km: 1000,
                charge_percent: 90,
                ..Default::default()
            })
            .await
            .expect("pickup")
            .into_inner();
        c.order_sequence = done.sequence;
    }

    // Fleet knows whose hire each car is on (a breakdown is then one during that hire).
    for (order, car) in [(&a, &car_a), (&b, &car_b)] {
        c.vehicle_when(car, "the car on hire", |v| &v.on_hire_order_id == order)
            .await;
    }

    // 2. A's car breaks down; order dies right after fleet has the report. Fleet plans the
    // replacement while the order service is down; started again, it folds the swap in.
    clock.set(t0 + hours(5.0));
    c.fc.report_breakdown(fpb::ReportBreakdownRequest {
        context: rid(),
        vehicle_id: car_a.clone(),
        station_or_address: "SHA".into(),
        severity: fpb::Severity::Major as i32,
        description: "驱动电机故障".into(),
        ..Default::default()
    })
    .await
    .expect("breakdown");
    if kill {
        c.order.kill().await;
        c.order.restart().await;
    }
    let swap_to = order_when(&c, &a, "the replacement planned for A", |o| {
        !o.assigned_vehicle_id.is_empty() && o.assigned_vehicle_id != car_a
    })
    .await
    .assigned_vehicle_id;
    assert_ne!(swap_to, car_b, "{label}: B keeps its car");
    clock.set(t0 + hours(5.5));
    let swapped =
        c.oc.record_swap(opb::RecordSwapRequest {
            context: rid(),
            order_id: a.clone(),
            location: station("SHA"),
            from_odometer_km: 1150,
            from_charge_percent: 30,
            vehicle_id: swap_to.clone(),
            plate: plate(&swap_to).into(),
            odometer_km: 3000,
            charge_percent: 95,
            ..Default::default()
        })
        .await
        .expect("swap")
        .into_inner();
    c.order_sequence = swapped.sequence;

    // 3. A member of staff drives V3 from PVG to SHA.
    c.fc.move_vehicle(fpb::MoveVehicleRequest {
        context: rid(),
        vehicle_id: "V3".into(),
        to_station: "SHA".into(),
        reason: "rebalance".into(),
        moved_at: Some(ts(t0 + hours(7.0))),
        departed_at: Some(ts(t0 + hours(6.0))),
        staff_id: "S-7".into(),
        ..Default::default()
    })
    .await
    .expect("staff move");

    // 4. The returns, A's with damage; receivables dies right after A's return is acknowledged.
    clock.set(t0 + hours(8.0));
    c.oc.record_return(opb::RecordReturnRequest {
        context: rid(),
        order_id: a.clone(),
        odometer_km: 3200,
        charge_percent: 60,
        damage_noted: "后保险杠刮伤".into(),
        ..Default::default()
    })
    .await
    .expect("A returned");
    if kill {
        c.receivables.kill().await;
    }
    clock.set(t0 + hours(9.0));
    c.oc.record_return(opb::RecordReturnRequest {
        context: rid(),
        order_id: b.clone(),
        odometer_km: 1300,
        charge_percent: 50,
        ..Default::default()
    })
    .await
    .expect("B returned");
    if kill {
        c.receivables.restart().await;
    }
    receivables_caught_up(&c).await;
    let rx = c.receivables.app();
    rx.damage_scan
        .next_full_pass(AFTER_A_KILL)
        .await
        .expect("a damage pass");
    rx.damage_scan
        .next_full_pass(AFTER_A_KILL)
        .await
        .expect("another damage pass");
    let seq = c.last_sequence("RECEIVABLES").await;
    let claims =
        c.rc.list_claims(rpb::ListClaimsRequest {
            consistency: within(seq),
            ..Default::default()
        })
        .await
        .expect("claims")
        .into_inner()
        .claims;
    assert_eq!(
        claims.len(),
        1,
        "{label}: one claim, from A's damaged return: {claims:?}"
    );
    let claim = &claims[0];
    let opened = claim.opened.as_ref().expect("opened");
    assert_eq!(
        (opened.order_id.as_str(), opened.customer_id.as_str()),
        (a.as_str(), "C-APP-WEEK-A"),
        "{label}"
    );
    assert!(
        opened.from_return && opened.damage_noted == "后保险杠刮伤",
        "{label}: {opened:?}"
    );
    c.rc.add_claim_lines(rpb::AddClaimLinesRequest {
        context: rid(),
        claim_id: claim.claim_id.clone(),
        lines: vec![
            line(rpb::InvoiceLineKind::Parts, "后保险杠", 60_000),
            line(rpb::InvoiceLineKind::Labour, "拆装", 40_000),
        ],
    })
    .await
    .expect("invoice lines");
    let set =
        c.rc.set_claim_details(rpb::SetClaimDetailsRequest {
            context: rid(),
            claim_id: claim.claim_id.clone(),
            cause: 0,
            repair_days: Some(2),
        })
        .await
        .expect("details")
        .into_inner();
    // Basic cover: the 1,000 repair (under the deductible), 2 days' loss of use, the admin fee.
    let claim_total = set.liability.expect("a liability").total_fen;
    assert_eq!(claim_total, 100_000 + 2 * 20_000 + 10_000, "{label}");
    let confirmed =
        c.rc.confirm_claim(rpb::ConfirmClaimRequest {
            context: rid(),
            claim_id: claim.claim_id.clone(),
            expected_total: cny(claim_total),
        })
        .await
        .expect("finance confirms")
        .into_inner();
    assert!(!confirmed.charge_booking_id.is_empty(), "{label}: charged");

    // 5. Twenty days on, the bureau's batch: A's first car before the swap, the replacement
    // after it, V3 during the staff move, B's car, and the first record again.
    let imported_at = t0 + time::Duration::days(20);
    clock.set(imported_at);
    let records = vec![
        violation(plate(&car_a), t0 + hours(3.0), 1),
        violation(plate(&swap_to), t0 + hours(6.0), 2),
        violation("沪AD00003", t0 + hours(6.5), 3),
        violation(plate(&car_b), t0 + hours(4.0), 4),
        violation(plate(&car_a), t0 + hours(3.0), 5),
    ];
    let summary =
        c.rc.import_violations(futures::stream::iter(vec![rpb::ImportViolationsRequest {
            context: rid(),
            records,
            received_at: None,
        }]))
        .await
        .expect("import")
        .into_inner();
    assert_eq!(
        (
            summary.received,
            summary.new,
            summary.duplicates,
            summary.matched,
            summary.exceptions
        ),
        (5, 4, 1, 4, 0),
        "{label}: {summary:?}"
    );
    let violations =
        c.rc.list_violations(rpb::ListViolationsRequest {
            consistency: within(summary.sequence),
            ..Default::default()
        })
        .await
        .expect("violations")
        .into_inner()
        .violations;
    let who = |plate: &str| {
        let v = violations
            .iter()
            .find(|v| v.record.as_ref().is_some_and(|r| r.plate.replace('·', "") == plate))
            .unwrap_or_else(|| panic!("{label}: no violation of {plate}: {violations:?}"));
        let m = v.r#match.as_ref().expect("matched");
        (
            rpb::Responsibility::try_from(m.responsibility).expect("a responsibility"),
            m.customer_id.clone(),
            m.person_id.clone(),
            m.vehicle_id.clone(),
        )
    };
    assert_eq!(
        who(plate(&car_a)).1,
        "C-APP-WEEK-A",
        "{label}: before the swap, A's renter"
    );
    assert_eq!(
        who(plate(&swap_to)).1,
        "C-APP-WEEK-A",
        "{label}: after the swap, A's renter"
    );
    assert_eq!(who(plate(&car_b)).1, "C-APP-WEEK-B", "{label}");
    let staff = who("沪AD00003");
    assert_eq!(
        (staff.0, staff.2.as_str()),
        (rpb::Responsibility::Staff, "S-7"),
        "{label}: the staff move's"
    );

    // The ladder to the charge (D+30), then A's deposit period ends with its charges deducted.
    play_days(&c, imported_at, &[0, 3, 10, 15, 16, 30, 31]).await;
    let sa = statement(&mut c, "C-APP-WEEK-A").await;
    use rpb::BookingKind::{Charge, DepositDeduction, DepositHold, DepositRelease, Waiver};
    let ka = kinds(&sa);
    assert_eq!(ka.iter().filter(|k| **k == DepositHold).count(), 1, "{label}: {sa:?}");
    assert_eq!(
        ka.iter().filter(|k| **k == Charge).count(),
        3,
        "{label}: the claim and two fines: {sa:?}"
    );
    assert_eq!(
        ka.iter().filter(|k| **k == DepositDeduction).count(),
        1,
        "{label}: {sa:?}"
    );
    let charged = claim_total + 2 * 25_000;
    let deducted: i64 = sa
        .lines
        .iter()
        .filter(|l| l.kind == DepositDeduction as i32)
        .map(|l| l.credit_fen)
        .sum();
    assert_eq!(
        deducted,
        charged.min(200_000),
        "{label}: what was open, up to the deposit: {sa:?}"
    );
    assert!(!ka.contains(&DepositRelease) || charged < 200_000, "{label}: {sa:?}");
    assert_eq!(sa.balance_fen, charged - deducted, "{label}: {sa:?}");

    // 6. B's renter complains about the charge (owed: B held no deposit). Complaint dies right
    // after the case is acknowledged, receivables right after it has stopped the ladder.
    let sb = statement(&mut c, "C-APP-WEEK-B").await;
    assert_eq!((kinds(&sb), sb.balance_fen), (vec![Charge], 25_000), "{label}: {sb:?}");
    let vb = violations
        .iter()
        .find(|v| v.r#match.as_ref().is_some_and(|m| m.customer_id == "C-APP-WEEK-B"))
        .expect("B's violation")
        .violation_id
        .clone();
    let charge_b = sb.lines[0].booking_id.clone();
    let rx_seq = c.last_sequence("RECEIVABLES").await;
    c.complaint
        .app()
        .receivables
        .checkpoints
        .wait_for(rx_seq, AFTER_A_KILL)
        .await
        .expect("complaint knows the charge");
    let case =
        c.cc.open_case(cpb::OpenCaseRequest {
            context: rid(),
            channel: "HOTLINE".into(),
            customer_id: "C-APP-WEEK-B".into(),
            order_id: b.clone(),
            violation_id: vb.clone(),
            charge_booking_id: charge_b.clone(),
            category: "billing".into(),
            sub_category: "violation_charge".into(),
            text: "那个时间我在机场等车，违章不是我的，为什么扣我的钱".into(),
            ..Default::default()
        })
        .await
        .expect("the case opens")
        .into_inner();
    if kill {
        c.complaint.kill().await;
        c.complaint.restart().await;
    }
    let cp_seq = c.last_sequence("COMPLAINT").await;
    c.receivables
        .app()
        .disputes
        .handled(cp_seq, AFTER_A_KILL)
        .await
        .expect("receivables heard the case");
    if kill {
        c.receivables.kill().await;
        c.receivables.restart().await;
    }
    play_days(&c, imported_at, &[61]).await;
    let seq = c.last_sequence("RECEIVABLES").await;
    let v =
        c.rc.get_violation(rpb::GetViolationRequest {
            violation_id: vb.clone(),
            consistency: within(seq),
        })
        .await
        .expect("B's violation")
        .into_inner()
        .violation
        .expect("a violation");
    assert_eq!(v.disputes, vec![case.case_id.clone()], "{label}: disputed");
    assert_eq!(
        v.status,
        rpb::ViolationStatus::Charged as i32,
        "{label}: not handed to collections: {v:?}"
    );
    c.cc.resolve_case(cpb::ResolveCaseRequest {
        context: rid(),
        case_id: case.case_id.clone(),
        explanation: "核实后豁免该笔费用".into(),
        remedies: vec![cpb::Remedy {
            remedy: Some(cpb::remedy::Remedy::Waive(cpb::WaiveCharge {
                customer_id: "C-APP-WEEK-B".into(),
                violation_id: vb.clone(),
                charge_booking_id: charge_b.clone(),
                amount: None,
            })),
        }],
        at: None,
    })
    .await
    .expect("resolved");
    let cp_seq = c.last_sequence("COMPLAINT").await;
    c.receivables
        .app()
        .disputes
        .handled(cp_seq, AFTER_A_KILL)
        .await
        .expect("receivables heard the resolution");
    let sb = statement(&mut c, "C-APP-WEEK-B").await;
    assert_eq!(
        (kinds(&sb), sb.balance_fen),
        (vec![Charge, Waiver], 0),
        "{label}: {sb:?}"
    );
    assert_eq!(sb.lines[1].about_booking_id, charge_b, "{label}");

    // 7. A second case, about A's car; then the analysis: two cases over two orders.
    c.cc.open_case(cpb::OpenCaseRequest {
        context: rid(),
        channel: "APP".into(),
        customer_id: "C-APP-WEEK-A".into(),
        order_id: a.clone(),
        category: "vehicle".into(),
        sub_category: "cleanliness".into(),
        text: "车内很脏，座椅上有污渍".into(),
        ..Default::default()
    })
    .await
    .expect("a second case");
    let cp_seq = c.last_sequence("COMPLAINT").await;
    let analysis =
        c.cc.analyze_complaints(cpb::AnalyzeComplaintsRequest {
            period_from: Some(ts(t0 - time::Duration::days(1))),
            period_to: Some(ts(t0 + time::Duration::days(120))),
            consistency: within(cp_seq),
            ..Default::default()
        })
        .await
        .expect("analysis")
        .into_inner();
    let sha = analysis.by_city.iter().find(|r| r.value == "SHA").expect("SHA's rate");
    assert_eq!(
        (sha.cases, sha.orders, sha.per_thousand),
        (2, 2, Some(1000.0)),
        "{label}: {analysis:?}"
    );

    // Nothing done twice: each order's history, event by event.
    let ha = history(&mut c, &a).await;
    let hb = history(&mut c, &b).await;
    for (h, assignments) in [(&ha, 2), (&hb, 1)] {
        for once in ["OrderPlaced", "OrderConfirmed", "VehiclePickedUp", "VehicleReturned"] {
            assert_eq!(h.get(once), Some(&1), "{label}: {once} once: {h:?}");
        }
        assert_eq!(h.get("VehicleAssignmentRecorded"), Some(&assignments), "{label}: {h:?}");
    }
    assert_eq!(ha.get("VehicleSwapped"), Some(&1), "{label}: {ha:?}");
    c.stop().await;
}

rentops_testkit::per_backend! {
    async fn every_flow_between_the_four_services(order_db: TestDatabase, fleet_db: TestDatabase, rx_db: TestDatabase, cp_db: TestDatabase) {
        week([&order_db, &fleet_db, &rx_db, &cp_db], Kills::None).await;
    }
}

rentops_testkit::per_backend! {
    async fn every_flow_with_each_service_killed_midway_and_started_again(order_db: TestDatabase, fleet_db: TestDatabase, rx_db: TestDatabase, cp_db: TestDatabase) {
        week([&order_db, &fleet_db, &rx_db, &cp_db], Kills::EachMidway).await;
    }
}
