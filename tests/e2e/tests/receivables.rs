//! Traffic violations matched against what the real order and fleet services recorded: the
//! plates fleet registered, the pickup, the mid-hire swap and the return the desk recorded.
//! Receivables reads only their streams. Three services, real NATS, SQLite and PostgreSQL; the
//! clock is moved, never waited for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rentops_e2e::{Desk, env, last_sequence, rid, station, violation};
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::fleet as fpb;
use rentops_proto::order as opb;
use rentops_proto::receivables as rpb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use rentops_runtime::{ManualClock, ServiceConfig as _, Shutdown};
use time::OffsetDateTime;

fn morning() -> OffsetDateTime {
    let day = OffsetDateTime::now_utc().date().next_day().expect("a tomorrow");
    day.with_hms(1, 0, 0).expect("01:00").assume_utc()
}

fn hours(h: f64) -> time::Duration {
    time::Duration::seconds_f64(h * 3600.0)
}

rentops_testkit::per_backend! {
    async fn violations_follow_the_car_on_hire_across_a_swap(order_db: TestDatabase, fleet_db: TestDatabase, rx_db: TestDatabase) {
        let t0 = morning();
        let clock = ManualClock::at(t0);
        let mut desk = Desk::start(&order_db, &fleet_db, clock.clone()).await;
        let label = desk.label;
        let shutdown = Shutdown::new();
        let config = rentops_receivables::app::ReceivablesConfig::read(&env(&desk.nats_url(), rx_db.url(), &[]))
            .expect("receivables config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rx = rentops_receivables::app::start(config, listener, clock.clone(), shutdown.clone())
            .await
            .expect("receivables starts");
        let mut rc = ReceivablesServiceClient::connect(format!("http://{}", rx.addr)).await.unwrap();

        desk.city_sha().await;
        desk.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
        desk.register("V2", "沪AD00002", VehicleModel::Ec6, "SHA").await;
        let order_id = desk
            .confirmed_order("APP-RX-1", VehicleModel::Es6, t0 + hours(2.0), t0 + hours(26.0))
            .await;
        desk.order_when(&order_id, "V1 planned", |o| o.assigned_vehicle_id == "V1").await;
        clock.set(t0 + hours(2.0));
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
        desk.vehicle_when("V1", "V1 on hire", |v| v.on_hire_order_id == order_id).await;
        clock.set(t0 + hours(5.0));
        desk.fc
            .report_breakdown(fpb::ReportBreakdownRequest {
                context: rid(),
                vehicle_id: "V1".into(),
                station_or_address: "SHA".into(),
                severity: fpb::Severity::Major as i32,
                description: "drive unit fault".into(),
                ..Default::default()
            })
            .await
            .expect("breakdown");
        desk.order_when(&order_id, "the swap planned", |o| o.assigned_vehicle_id == "V2").await;
        clock.set(t0 + hours(5.5));
        desk.oc
            .record_swap(opb::RecordSwapRequest {
                context: rid(),
                order_id: order_id.clone(),
                location: station("SHA"),
                from_odometer_km: 1180,
                from_charge_percent: 30,
                vehicle_id: "V2".into(),
                plate: "沪AD00002".into(),
                odometer_km: 3000,
                charge_percent: 95,
                ..Default::default()
            })
            .await
            .expect("swap");
        clock.set(t0 + hours(8.0));
        desk.oc
            .record_return(opb::RecordReturnRequest {
                context: rid(),
                order_id: order_id.clone(),
                odometer_km: 3260,
                charge_percent: 60,
                ..Default::default()
            })
            .await
            .expect("return");

        // Receivables has read both streams up to here.
        let order_seq = last_sequence(&desk.nats_url(), "ORDER").await;
        let fleet_seq = last_sequence(&desk.nats_url(), "FLEET").await;
        rx.hires.checkpoints.wait_for(order_seq, Duration::from_secs(30)).await.expect("hires read");
        rx.fleet.checkpoints.wait_for(fleet_seq, Duration::from_secs(30)).await.expect("plates read");

        // The records arrive weeks later.
        clock.set(t0 + time::Duration::days(20));
        let cases = [
            (violation("沪AD00001", t0 + hours(3.0), 1), Some(&order_id)), // V1 while on hire
            (violation("沪AD00001", t0 + hours(6.0), 2), None),            // V1 after the swap
            (violation("沪A·D00002", t0 + hours(6.0), 3), Some(&order_id)), // V2 after the swap
            (violation("沪AD00002", t0 + hours(1.0), 4), None),            // V2 before it
        ];
        let summary = rc
            .import_violations(futures::stream::iter(vec![rpb::ImportViolationsRequest {
                context: rid(),
                records: cases.iter().map(|(r, _)| r.clone()).collect(),
                received_at: None,
            }]))
            .await
            .expect("import")
            .into_inner();
        assert_eq!((summary.new, summary.matched, summary.exceptions), (4, 2, 2), "{label}: {summary:?}");
        let listed = rc
            .list_violations(rpb::ListViolationsRequest {
                consistency: Some(Consistency { min_sequence: summary.sequence, timeout_ms: 30_000 }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .violations;
        for (r, expected) in &cases {
            let v = listed
                .iter()
                .find(|v| {
                    let rec = v.record.as_ref().unwrap();
                    rec.offence_at == r.offence_at && rec.plate.replace('·', "") == r.plate.replace('·', "")
                })
                .unwrap_or_else(|| panic!("{label}: {r:?} listed"));
            let got = v.r#match.as_ref().map(|m| &m.order_id);
            assert_eq!(got, expected.map(|o| o), "{label}: line {}", r.line);
            if expected.is_some() {
                let m = v.r#match.as_ref().unwrap();
                assert_eq!(m.customer_id, "C-APP-RX-1", "{label}");
            }
        }
        // The stream of every import is one stream: a second, empty batch changes nothing.
        let again = rc
            .import_violations(futures::stream::iter(vec![rpb::ImportViolationsRequest { context: rid(), records: Vec::new(), received_at: None, }]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.received, 0, "{label}");
        shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), rx.join()).await;
        desk.stop().await;
    }
}
