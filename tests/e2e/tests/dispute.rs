//! A disputed charge across the real services: a violation matched against what order and
//! fleet recorded, charged by receivables' ladder (the clock moved, step by step); a billing
//! complaint about it opened in the complaint service stops the ladder; its resolution with a
//! waiver remedy is booked on the renter's ledger by receivables, and the statement comes to
//! zero. Four services in-process, one real NATS, SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rentops_e2e::{Desk, env, last_sequence, rid, violation};
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::complaint as cpb;
use rentops_proto::complaint::complaint_service_client::ComplaintServiceClient;
use rentops_proto::order as opb;
use rentops_proto::receivables as rpb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use rentops_runtime::{ManualClock, ServiceConfig as _, Shutdown};
use time::OffsetDateTime;

fn morning() -> OffsetDateTime {
    let day = OffsetDateTime::now_utc().date().next_day().expect("a tomorrow");
    day.with_hms(1, 0, 0).expect("01:00").assume_utc()
}

fn hours(h: i64) -> time::Duration {
    time::Duration::hours(h)
}

fn within(seq: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence: seq,
        timeout_ms: 30_000,
    })
}

rentops_testkit::per_backend! {
    async fn a_complaint_stops_the_ladder_of_a_charged_violation_and_its_waiver_clears_the_statement(
        order_db: TestDatabase,
        fleet_db: TestDatabase,
        rx_db: TestDatabase,
        cp_db: TestDatabase
    ) {
        let t0 = morning();
        let clock = ManualClock::at(t0);
        let mut desk = Desk::start(&order_db, &fleet_db, clock.clone()).await;
        let label = desk.label;
        let nats = desk.nats_url();
        let shutdown = Shutdown::new();
        let config = rentops_receivables::app::ReceivablesConfig::read(&env(
            &nats,
            rx_db.url(),
            // The violation deposit goes back at the return, so the charge is owed on the
            // ledger rather than taken from the deposit.
            &[("RENTOPS_RECEIVABLES_LADDER_SCAN_SECS", "1"), ("RENTOPS_RECEIVABLES_DEPOSIT_RELEASE_DAYS", "0")],
        ))
        .expect("receivables config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rx = rentops_receivables::app::start(config, listener, clock.clone(), shutdown.clone())
            .await
            .expect("receivables starts");
        let mut rc = ReceivablesServiceClient::connect(format!("http://{}", rx.addr)).await.unwrap();
        let config = rentops_complaint::app::ComplaintConfig::read(&env(
            &nats,
            cp_db.url(),
            &[("RENTOPS_COMPLAINT_SCAN_SECS", "1")],
        ))
        .expect("complaint config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cp = rentops_complaint::app::start(config, listener, clock.clone(), shutdown.clone())
            .await
            .expect("complaint starts");
        let mut cc = ComplaintServiceClient::connect(format!("http://{}", cp.addr)).await.unwrap();

        // A hire of V1 on the first day.
        desk.city_sha().await;
        desk.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
        let order_id = desk.confirmed_order("APP-DSP-1", VehicleModel::Es6, t0 + hours(2), t0 + hours(26)).await;
        desk.order_when(&order_id, "V1 planned", |o| o.assigned_vehicle_id == "V1").await;
        clock.set(t0 + hours(2));
        desk.oc
            .record_pickup(opb::RecordPickupRequest {
                context: rid(),
                order_id: order_id.clone(),
                vehicle_id: "V1".into(),
                plate: "沪AD00001".into(),
                odometer_km: 1000,
                charge_percent: 90,
                ..Default::default()
            })
            .await
            .expect("pickup");
        clock.set(t0 + hours(8));
        desk.oc
            .record_return(opb::RecordReturnRequest {
                context: rid(),
                order_id: order_id.clone(),
                odometer_km: 1260,
                charge_percent: 60,
                ..Default::default()
            })
            .await
            .expect("return");
        let order_seq = last_sequence(&nats, "ORDER").await;
        let fleet_seq = last_sequence(&nats, "FLEET").await;
        rx.hires.checkpoints.wait_for(order_seq, Duration::from_secs(30)).await.expect("hires read");
        rx.fleet.checkpoints.wait_for(fleet_seq, Duration::from_secs(30)).await.expect("plates read");

        // Twenty days later the record arrives and is matched; the ladder runs to the charge on
        // D+30. Each step waits for whole passes of the ladder's and the deposits' scans, so the
        // violation deposit is released before the charge.
        let matched = t0 + time::Duration::days(20);
        clock.set(matched);
        let summary = rc
            .import_violations(futures::stream::iter(vec![rpb::ImportViolationsRequest {
                context: rid(),
                records: vec![violation("沪AD00001", t0 + hours(3), 1)],
                received_at: None,
            }]))
            .await
            .expect("import")
            .into_inner();
        assert_eq!(summary.matched, 1, "{label}: {summary:?}");
        for day in [0, 3, 10, 15, 16, 30] {
            // A day's passes read what the day before booked.
            let booked = last_sequence(&nats, "RECEIVABLES").await;
            rx.projector.checkpoints.wait_for(booked, Duration::from_secs(60)).await.expect("the bookings in the view");
            clock.set(matched + time::Duration::days(day));
            rx.deposit_scan.next_full_pass(Duration::from_secs(60)).await.expect("a deposits pass");
            rx.ladder_scan.next_full_pass(Duration::from_secs(60)).await.expect("a ladder pass");
        }
        let rx_seq = last_sequence(&nats, "RECEIVABLES").await;
        let violation = rc
            .list_violations(rpb::ListViolationsRequest { consistency: within(rx_seq), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .violations
            .pop()
            .expect("the violation");
        assert_eq!(violation.status, rpb::ViolationStatus::Charged as i32, "{label}: {violation:?}");
        let customer = violation.r#match.as_ref().unwrap().customer_id.clone();
        let charge = violation.charge_booking_id.clone();
        let statement = rc
            .get_statement(rpb::GetStatementRequest {
                customer_id: customer.clone(),
                consistency: within(rx_seq),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(statement.balance_fen, 25_000, "{label}: the fine and the fee are owed: {statement:?}");

        // The renter calls: a billing complaint about that charge. The complaint service knows
        // the violation and the charge from receivables' stream.
        cp.receivables.checkpoints.wait_for(rx_seq, Duration::from_secs(30)).await.expect("links read");
        let opened = cc
            .open_case(cpb::OpenCaseRequest {
                context: rid(),
                channel: "HOTLINE".into(),
                customer_id: customer.clone(),
                order_id: order_id.clone(),
                violation_id: violation.violation_id.clone(),
                charge_booking_id: charge.clone(),
                category: "billing".into(),
                sub_category: "violation_charge".into(),
                text: "那天我已经还车了，违章不是我的".into(),
                ..Default::default()
            })
            .await
            .expect("the case opens")
            .into_inner();
        assert_eq!(opened.severity, "P2", "{label}");
        let cp_seq = last_sequence(&nats, "COMPLAINT").await;
        rx.disputes.handled(cp_seq, Duration::from_secs(30)).await.expect("receivables heard the case");
        let v = rc
            .get_violation(rpb::GetViolationRequest {
                violation_id: violation.violation_id.clone(),
                consistency: within(last_sequence(&nats, "RECEIVABLES").await),
            })
            .await
            .unwrap()
            .into_inner()
            .violation
            .unwrap();
        assert_eq!(v.disputes, vec![opened.case_id.clone()], "{label}: disputed");
        assert_eq!(v.next_step, 0, "{label}: the ladder stands still");

        // Past D+60: no hand-over to collections while the case is open.
        clock.set(matched + time::Duration::days(61));
        rx.ladder_scan.next_full_pass(Duration::from_secs(60)).await.expect("a ladder pass");
        let v = rc
            .get_violation(rpb::GetViolationRequest {
                violation_id: violation.violation_id.clone(),
                consistency: within(last_sequence(&nats, "RECEIVABLES").await),
            })
            .await
            .unwrap()
            .into_inner()
            .violation
            .unwrap();
        assert_eq!(v.status, rpb::ViolationStatus::Charged as i32, "{label}: not handed to collections");

        // A supervisor resolves it with a waiver of the charge.
        cc.resolve_case(cpb::ResolveCaseRequest {
            context: rid(),
            case_id: opened.case_id.clone(),
            explanation: "核实还车时间后豁免".into(),
            remedies: vec![cpb::Remedy {
                remedy: Some(cpb::remedy::Remedy::Waive(cpb::WaiveCharge {
                    customer_id: customer.clone(),
                    violation_id: violation.violation_id.clone(),
                    charge_booking_id: charge.clone(),
                    amount: None,
                })),
            }],
            at: None,
        })
        .await
        .expect("resolved");
        let cp_seq = last_sequence(&nats, "COMPLAINT").await;
        rx.disputes.handled(cp_seq, Duration::from_secs(30)).await.expect("receivables heard the resolution");
        let statement = rc
            .get_statement(rpb::GetStatementRequest {
                customer_id: customer.clone(),
                consistency: within(last_sequence(&nats, "RECEIVABLES").await),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let last = statement.lines.last().expect("lines");
        assert_eq!(last.kind, rpb::BookingKind::Waiver as i32, "{label}: {statement:?}");
        assert_eq!(last.about_booking_id, charge, "{label}");
        assert_eq!(statement.balance_fen, 0, "{label}: nothing is owed");
        let case = cc
            .get_case(cpb::GetCaseRequest { case_id: opened.case_id.clone(), consistency: within(cp_seq) })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(case.status, "RESOLVED");

        shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), rx.join()).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), cp.join()).await;
        desk.stop().await;
    }
}
