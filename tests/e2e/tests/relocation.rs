//! Drivers move cars: the plan's relocation is a driver's task; while no driver can take it the
//! order is at risk (keeping its car), a shift that covers it resolves that, and the move, once
//! driven, records who drove. Both services, real NATS, SQLite and PostgreSQL, a moved clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rentops_e2e::{Desk, rid, ts};
use rentops_proto::common::VehicleModel;
use rentops_proto::fleet as fpb;
use rentops_runtime::ManualClock;
use time::OffsetDateTime;

rentops_testkit::per_backend! {
    async fn a_relocation_is_a_drivers_task_and_the_move_records_who_drove(order_db: TestDatabase, fleet_db: TestDatabase) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let t0 = OffsetDateTime::from_unix_timestamp(now - now % 60).unwrap() + time::Duration::days(1);
        let clock = ManualClock::at(t0);
        let mut desk = Desk::start(&order_db, &fleet_db, clock.clone()).await;
        let label = desk.label;
        desk.city_sha().await;
        // The only car stands at SHA; the order picks up at PVG (50 min away) at +6 h.
        desk.register("V1", "沪AD00001", VehicleModel::Es6, "SHA").await;
        let pickup = t0 + time::Duration::hours(6);
        let order_id = desk
            .confirmed_order("APP-MOVE-1", VehicleModel::Es6, pickup, t0 + time::Duration::hours(30))
            .await;

        // No driver on shift: the move has nobody, so the order is at risk, keeping V1.
        let o = desk
            .order_when(&order_id, "the order at risk for want of a driver", |o| {
                o.at_risk && o.at_risk_reason == "NO_DRIVER"
            })
            .await;
        assert_eq!(o.assigned_vehicle_id, "V1", "{label}: the car stays planned");

        // A driver on shift at SHA from +4 h to +8 h can take it.
        desk.driver("D1").await;
        desk.fc
            .schedule_shift(fpb::ScheduleShiftRequest {
                context: rid(),
                driver_id: "D1".into(),
                shift_id: "S1".into(),
                from: Some(ts(t0 + time::Duration::hours(4))),
                to: Some(ts(t0 + time::Duration::hours(8))),
                station: "SHA".into(),
            })
            .await
            .expect("shift");
        let o = desk
            .order_when(&order_id, "the risk resolved by the driver", |o| !o.at_risk)
            .await;
        assert_eq!(o.assigned_vehicle_id, "V1", "{label}");
        // Fleet's own view of the tasks follows its projector.
        let tasks = desk
            .tasks_when("the relocation given to D1", |tasks| tasks.iter().any(|t| t.driver_id == "D1"))
            .await;
        let [task] = tasks.as_slice() else { panic!("{label}: one task: {tasks:?}") };
        assert_eq!(task.kind, fpb::TaskKind::Relocation as i32, "{label}");
        assert_eq!(
            (task.driver_id.as_str(), task.station.as_str(), task.to_station.as_str(), task.vehicle_id.as_str()),
            ("D1", "SHA", "PVG", "V1"),
            "{label}"
        );
        assert_eq!(task.from.as_ref().map(|t| t.seconds), Some((pickup - time::Duration::minutes(50)).unix_timestamp()));

        // D1 drives V1 over: the move says who drove, from when to when.
        clock.set(pickup - time::Duration::minutes(5));
        desk.fc
            .move_vehicle(fpb::MoveVehicleRequest {
                context: rid(),
                vehicle_id: "V1".into(),
                to_station: "PVG".into(),
                reason: "relocation".into(),
                driver_id: "D1".into(),
                task_order_id: order_id.clone(),
                ..Default::default()
            })
            .await
            .expect("moved");
        let v1 = desk.vehicle_when("V1", "V1 at PVG", |v| v.station == "PVG").await;
        assert_eq!(v1.station, "PVG", "{label}");
        // A driver of another city, or none at all, is named as bad input.
        let e = desk
            .fc
            .move_vehicle(fpb::MoveVehicleRequest {
                context: rid(),
                vehicle_id: "V1".into(),
                to_station: "SHA".into(),
                driver_id: "D9".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{label}: {e:?}");
        assert!(e.message().contains("driver_id"), "{label}: {}", e.message());
        desk.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_delivery_and_a_collection_are_drivers_tasks_within_their_shifts(order_db: TestDatabase, fleet_db: TestDatabase) {
        use rentops_proto::order as opb;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let t0 = OffsetDateTime::from_unix_timestamp(now - now % 60).unwrap() + time::Duration::days(1);
        let mut desk = Desk::start(&order_db, &fleet_db, ManualClock::at(t0)).await;
        let label = desk.label;
        desk.city_sha().await;
        // Addresses are served from PVG.
        desk.fc
            .configure_city(fpb::ConfigureCityRequest {
                context: rid(),
                city: "SHA".into(),
                name: "上海".into(),
                default_station: "PVG".into(),
                ..Default::default()
            })
            .await
            .expect("default station");
        desk.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
        desk.driver("D1").await;
        // D1 works the morning of the pickup only.
        let pickup = t0 + time::Duration::hours(6);
        desk.fc
            .schedule_shift(fpb::ScheduleShiftRequest {
                context: rid(),
                driver_id: "D1".into(),
                shift_id: "S1".into(),
                from: Some(ts(pickup - time::Duration::hours(2))),
                to: Some(ts(pickup + time::Duration::hours(2))),
                station: "PVG".into(),
            })
            .await
            .expect("shift");
        let address = |a: &str| {
            Some(opb::Location {
                place: Some(opb::location::Place::Address(a.into())),
            })
        };
        let placed = desk
            .oc
            .place_order(opb::PlaceOrderRequest {
                context: rid(),
                channel: opb::Channel::App as i32,
                channel_order_ref: "APP-DELIVER-1".into(),
                customer: Some(opb::Customer {
                    customer_id: "C-9".into(),
                    name: "王芳".into(),
                    phone: "+86 138 0000 0000".into(),
                }),
                city: "SHA".into(),
                pickup_location: address("浦东新区 世纪大道 100 号"),
                pickup_at: Some(ts(pickup)),
                return_location: address("浦东新区 世纪大道 100 号"),
                return_at: Some(ts(pickup + time::Duration::hours(24))),
                requested_model: VehicleModel::Es6 as i32,
                price: rentops_e2e::cny(120_000),
                rental_deposit: rentops_e2e::cny(500_000),
                violation_deposit: rentops_e2e::cny(200_000),
                ..Default::default()
            })
            .await
            .expect("placed")
            .into_inner();
        desk.oc
            .record_contact_attempt(opb::RecordContactAttemptRequest {
                context: rid(),
                order_id: placed.order_id.clone(),
                outcome: opb::ContactOutcome::Reached as i32,
                ..Default::default()
            })
            .await
            .expect("call");
        desk.oc
            .confirm_order(opb::ConfirmOrderRequest {
                context: rid(),
                order_id: placed.order_id.clone(),
                notes: String::new(),
            })
            .await
            .expect("confirmed");

        // The car is planned; the delivery goes to D1, the collection (no shift then) is flagged.
        let tasks = desk.tasks_when("both driver tasks", |tasks| tasks.len() == 2).await;
        let of = |kind: fpb::TaskKind| tasks.iter().find(|t| t.kind == kind as i32).expect("a task of that kind");
        let delivery = of(fpb::TaskKind::Delivery);
        assert_eq!((delivery.driver_id.as_str(), delivery.flagged), ("D1", false), "{label}: {tasks:?}");
        assert_eq!(delivery.address, "浦东新区 世纪大道 100 号", "{label}");
        let collection = of(fpb::TaskKind::Collection);
        assert!(collection.flagged && collection.driver_id.is_empty(), "{label}: {tasks:?}");
        desk.stop().await;
    }
}
