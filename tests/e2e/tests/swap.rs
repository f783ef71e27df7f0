//! A car breaks down during a hire: fleet plans a replacement, the desk records the swap, the
//! customer returns the replacement — and the order, both cars and the KPIs agree on which car
//! was on hire when. Both services, real NATS, SQLite and PostgreSQL; the clock is moved, never
//! waited for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rentops_e2e::{Desk, rid, station, ts};
use rentops_proto::common::VehicleModel;
use rentops_proto::fleet as fpb;
use rentops_proto::order as opb;
use rentops_runtime::ManualClock;
use time::{OffsetDateTime, UtcOffset};

/// 09:00 China time tomorrow: the whole hire falls on one business day.
fn morning() -> OffsetDateTime {
    let day = OffsetDateTime::now_utc().date().next_day().expect("a tomorrow");
    day.with_hms(1, 0, 0).expect("01:00").assume_utc()
}

fn hours(h: f64) -> time::Duration {
    time::Duration::seconds_f64(h * 3600.0)
}

rentops_testkit::per_backend! {
    async fn a_breakdown_during_a_hire_is_swapped_and_every_view_agrees(order_db: TestDatabase, fleet_db: TestDatabase) {
        let t0 = morning();
        let clock = ManualClock::at(t0);
        let mut desk = Desk::start(&order_db, &fleet_db, clock.clone()).await;
        let label = desk.label;
        desk.city_sha().await;
        // The booked car at the pickup station, and an EC6 (an allowed upgrade) at SHA.
        desk.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
        desk.register("V2", "沪AD00002", VehicleModel::Ec6, "SHA").await;

        let order_id = desk
            .confirmed_order("APP-SWAP-1", VehicleModel::Es6, t0 + hours(2.0), t0 + hours(26.0))
            .await;
        desk.order_when(&order_id, "V1 planned for the order", |o| o.assigned_vehicle_id == "V1")
            .await;

        // The hire: V1 handed over at 1,000 km.
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
        desk.vehicle_when("V1", "V1 on hire", |v| v.on_hire_order_id == order_id)
            .await;

        // V1 breaks down at the SHA station; fleet plans V2, which stands there, as the swap.
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
        let planned = desk
            .order_when(&order_id, "the swap to V2 planned", |o| o.assigned_vehicle_id == "V2")
            .await;
        assert_eq!(planned.vehicle_on_hire_id, "V1", "{label}: planned, not done");
        assert!(planned.upgrade, "{label}: an EC6 for an ES6 booking");

        // The desk records the swap: V1 out at 1,180 km, V2 in at 3,000 km.
        clock.set(t0 + hours(5.5));
        let swapped = desk
            .oc
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
            .expect("swap")
            .into_inner();
        let o = desk.order(&order_id, swapped.sequence).await;
        assert_eq!((o.vehicle_on_hire_id.as_str(), o.plate_on_hire.as_str()), ("V2", "沪A·D00002"), "{label}");
        let [swap] = o.swaps.as_slice() else { panic!("{label}: one swap: {o:?}") };
        let broken = swap.broken.as_ref().expect("broken car");
        assert_eq!((broken.vehicle_id.as_str(), broken.odometer_km), ("V1", 1180), "{label}");
        assert_eq!(swap.recorded_by, "desk:li", "{label}");

        let v1 = desk
            .vehicle_when("V1", "V1 off the hire", |v| v.on_hire_order_id.is_empty())
            .await;
        assert_eq!(v1.state, fpb::VehicleState::Breakdown as i32, "{label}");
        assert_eq!((v1.odometer_km, v1.charge_percent), (1180, 30), "{label}");
        desk.vehicle_when("V2", "V2 on hire", |v| v.on_hire_order_id == order_id).await;

        // The customer brings V2 back: the reading is V2's, not V1's.
        clock.set(t0 + hours(8.0));
        let returned = desk
            .oc
            .record_return(opb::RecordReturnRequest {
                context: rid(),
                order_id: order_id.clone(),
                odometer_km: 3260,
                charge_percent: 60,
                ..Default::default()
            })
            .await
            .expect("return")
            .into_inner();
        let o = desk.order(&order_id, returned.sequence).await;
        let back = o.r#return.as_ref().expect("returned");
        assert_eq!((back.vehicle_id.as_str(), back.odometer_km), ("V2", 3260), "{label}");
        let v2 = desk
            .vehicle_when("V2", "V2 back at SHA", |v| v.on_hire_order_id.is_empty() && v.odometer_km == 3260)
            .await;
        assert_eq!((v2.state, v2.station.as_str()), (fpb::VehicleState::Available as i32, "SHA"), "{label}");
        let v1 = desk.vehicle_when("V1", "V1 unchanged", |v| v.state == fpb::VehicleState::Breakdown as i32).await;
        assert_eq!(v1.odometer_km, 1180, "{label}: the return is not booked to the broken car");

        // The order's history: at any moment of the hire, which car the customer had.
        for (at, car) in [(2.5, "V1"), (5.4, "V1"), (5.5, "V2"), (7.9, "V2")] {
            let then = desk
                .oc
                .get_order(opb::GetOrderRequest {
                    order_id: order_id.clone(),
                    as_of: Some(ts(t0 + hours(at))),
                    consistency: None,
                })
                .await
                .expect("as of")
                .into_inner()
                .order
                .expect("an order");
            assert_eq!(then.vehicle_on_hire_id, car, "{label}: on hire at t0 + {at} h");
        }

        // The KPIs count each car for its own part of the hire: V1 (ES6) 2 → 5.5 h, V2 (EC6)
        // 5.5 → 8 h.
        clock.set(t0 + hours(9.0));
        let day = t0.to_offset(UtcOffset::from_hms(8, 0, 0).unwrap()).date().to_string();
        let kpis = desk
            .fc
            .get_kpis(fpb::GetKpisRequest {
                city: "SHA".into(),
                from_day: day.clone(),
                to_day: day.clone(),
                by_model: true,
                ..Default::default()
            })
            .await
            .expect("kpis")
            .into_inner();
        let on_rent = |model: VehicleModel| {
            kpis.rows
                .iter()
                .filter(|r| r.model == model as i32)
                .map(|r| r.on_rent_hours)
                .sum::<f64>()
        };
        assert!((on_rent(VehicleModel::Es6) - 3.5).abs() < 1e-6, "{label}: {kpis:?}");
        assert!((on_rent(VehicleModel::Ec6) - 2.5).abs() < 1e-6, "{label}: {kpis:?}");
        desk.stop().await;
    }
}
