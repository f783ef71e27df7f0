//! What the desk does and what happens to the fleet's plan, across both services: a breakdown
//! before pickup puts the order at risk, a cancellation gives its car to the next order, and a
//! pickup with another car than planned is planned around. Real NATS, SQLite and PostgreSQL,
//! on a moved clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rentops_e2e::{Desk, rid};
use rentops_proto::common::VehicleModel;
use rentops_proto::fleet as fpb;
use rentops_proto::order as opb;
use rentops_runtime::ManualClock;
use time::OffsetDateTime;

fn start_of_day() -> OffsetDateTime {
    let day = OffsetDateTime::now_utc().date().next_day().expect("a tomorrow");
    day.with_hms(1, 0, 0).expect("01:00").assume_utc()
}

rentops_testkit::per_backend! {
    async fn a_breakdown_before_pickup_puts_the_order_at_risk(order_db: TestDatabase, fleet_db: TestDatabase) {
        let t0 = start_of_day();
        let mut desk = Desk::start(&order_db, &fleet_db, ManualClock::at(t0)).await;
        let label = desk.label;
        desk.city_sha().await;
        desk.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
        let order_id = desk
            .confirmed_order("APP-RISK-1", VehicleModel::Es6, t0 + time::Duration::hours(6), t0 + time::Duration::hours(30))
            .await;
        desk.order_when(&order_id, "V1 planned", |o| o.assigned_vehicle_id == "V1").await;

        // The only car breaks down with no repair date: no car can serve the order.
        desk.fc
            .report_breakdown(fpb::ReportBreakdownRequest {
                context: rid(),
                vehicle_id: "V1".into(),
                station_or_address: "PVG".into(),
                severity: fpb::Severity::Critical as i32,
                description: "battery fault".into(),
                ..Default::default()
            })
            .await
            .expect("breakdown");
        let o = desk.order_when(&order_id, "the order at risk", |o| o.at_risk).await;
        assert_eq!(o.assigned_vehicle_id, "", "{label}: the broken car is not the order's any more");
        assert!(!o.at_risk_reason.is_empty(), "{label}: {o:?}");
        desk.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_cancelled_order_releases_its_car_to_the_next_one(order_db: TestDatabase, fleet_db: TestDatabase) {
        let t0 = start_of_day();
        let mut desk = Desk::start(&order_db, &fleet_db, ManualClock::at(t0)).await;
        let label = desk.label;
        desk.city_sha().await;
        desk.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
        let (pickup, back) = (t0 + time::Duration::hours(6), t0 + time::Duration::hours(30));
        let first = desk.confirmed_order("APP-CANCEL-1", VehicleModel::Es6, pickup, back).await;
        desk.order_when(&first, "V1 planned for the first", |o| o.assigned_vehicle_id == "V1").await;
        // A second order for the same hours: one car, so it is at risk.
        let second = desk.confirmed_order("APP-CANCEL-2", VehicleModel::Es6, pickup, back).await;
        desk.order_when(&second, "the second at risk", |o| o.at_risk).await;

        let cancelled = desk
            .oc
            .cancel_order(opb::CancelOrderRequest {
                context: rid(),
                order_id: first.clone(),
                cancelled_by: opb::CancelledBy::Customer as i32,
                reason: "plans changed".into(),
            })
            .await
            .expect("cancel")
            .into_inner();
        desk.order_sequence = cancelled.sequence;
        let o = desk
            .order_when(&second, "V1 released to the second", |o| o.assigned_vehicle_id == "V1")
            .await;
        assert!(!o.at_risk, "{label}: {o:?}");
        desk.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_pickup_with_another_car_than_planned_is_planned_around(order_db: TestDatabase, fleet_db: TestDatabase) {
        let t0 = start_of_day();
        let clock = ManualClock::at(t0);
        let mut desk = Desk::start(&order_db, &fleet_db, clock.clone()).await;
        let label = desk.label;
        desk.city_sha().await;
        desk.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
        let pickup = t0 + time::Duration::hours(2);
        let a = desk
            .confirmed_order("APP-OTHER-1", VehicleModel::Es6, pickup, t0 + time::Duration::hours(26))
            .await;
        desk.order_when(&a, "V1 planned for A", |o| o.assigned_vehicle_id == "V1").await;
        // B, from PVG the next morning: V1 could serve it after A (back at SHA at +26 h, 50 min
        // away), but V2, standing at PVG, needs no relocation.
        let b = desk
            .confirmed_order("APP-OTHER-2", VehicleModel::Es6, t0 + time::Duration::hours(30), t0 + time::Duration::hours(40))
            .await;
        // V2 arrives at PVG; the plan keeps A on V1 (a stable plan) and gives B V2.
        desk.register("V2", "沪AD00002", VehicleModel::Es6, "PVG").await;
        desk.order_when(&b, "B planned on V2", |o| o.assigned_vehicle_id == "V2").await;

        // The counter hands A's customer V2 instead of V1.
        clock.set(pickup);
        let picked = desk
            .oc
            .record_pickup(opb::RecordPickupRequest {
                context: rid(),
                order_id: a.clone(),
                vehicle_id: "V2".into(),
                plate: "沪AD00002".into(),
                odometer_km: 500,
                charge_percent: 95,
                ..Default::default()
            })
            .await
            .expect("pickup")
            .into_inner();
        let o = desk.order(&a, picked.sequence).await;
        let p = o.pickup.as_ref().expect("picked up");
        assert_eq!((p.vehicle_id.as_str(), p.planned_vehicle_id.as_str()), ("V2", "V1"), "{label}");
        assert_eq!(o.vehicle_on_hire_id, "V2", "{label}");

        // Fleet knows V2 is out until A's return, so B cannot have V2: it gets V1.
        desk.vehicle_when("V2", "V2 on hire for A", |v| v.on_hire_order_id == a).await;
        desk.order_sequence = picked.sequence;
        desk.order_when(&b, "B on V1", |o| o.assigned_vehicle_id == "V1").await;
        desk.stop().await;
    }
}
