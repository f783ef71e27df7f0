//! An order placed and confirmed at the order service becomes demand at fleet, fleet's plan
//! assigns it a car, and the order service shows the car's plate — over real NATS, with each
//! service on its own database, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rentops_e2e::Desk;
use rentops_proto::common::VehicleModel;
use rentops_runtime::SystemClock;
use time::OffsetDateTime;

rentops_testkit::per_backend! {
    async fn a_confirmed_order_gets_a_car_from_fleets_plan(order_db: TestDatabase, fleet_db: TestDatabase) {
        let mut desk = Desk::start(&order_db, &fleet_db, Arc::new(SystemClock)).await;
        let label = desk.label;
        desk.city_sha().await;
        desk.register("V0001", "沪AD00001", VehicleModel::Es6, "PVG").await;

        let now = OffsetDateTime::now_utc();
        let order_id = desk
            .confirmed_order(
                "APP-E2E-1",
                VehicleModel::Es6,
                now + time::Duration::days(2),
                now + time::Duration::days(4),
            )
            .await;

        // Fleet plans it; the order service folds the assignment in.
        let o = desk
            .order_when(&order_id, "the order to show a car", |o| !o.assigned_plate.is_empty())
            .await;
        // Fleet writes plates in their canonical form.
        assert_eq!(o.assigned_plate, "沪A·D00001", "{label}");
        assert_eq!(o.assigned_vehicle_id, "V0001", "{label}");
        assert!(!o.at_risk, "{label}");
        desk.stop().await;
    }
}
