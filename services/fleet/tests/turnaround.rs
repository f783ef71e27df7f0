//! Turnaround after a real return, and the city's low-charge rule: a car brought back nearly
//! empty may not leave again until it has charged. Real NATS, SQLite and PostgreSQL, on a clock
//! that stands still.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step should stop it loudly

mod common;

use common::*;
use rentops_proto::common::VehicleModel;
use rentops_proto::fleet as pb;
use rentops_proto::order as opb;
use rentops_runtime::ManualClock;
use time::OffsetDateTime;

async fn at_risk(c: &Client, order: &str) -> String {
    eventually(&format!("{order} at risk"), || {
        let mut c = c.clone();
        let order = order.to_owned();
        async move {
            plan(&mut c)
                .await
                .at_risk
                .into_iter()
                .find(|a| a.order_id == order)
                .map(|a| a.reason)
        }
    })
    .await
}

rentops_testkit::per_backend! {
    async fn a_car_returned_nearly_empty_is_planned_only_once_charged(db: TestDatabase) {
        // On a whole minute: the plan works in minutes.
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let t0 = OffsetDateTime::from_unix_timestamp(now - now % 60).unwrap();
        let clock = ManualClock::at(t0);
        let t = TestApp::spawn_with_clock(db, clock.clone()).await;
        let mut c = t.client();
        configure_sha(&mut c).await;
        // Turnaround 60 min; below 20 % charge, 120 min more.
        c.set_turnaround(pb::SetTurnaroundRequest {
            context: rid(),
            city: "SHA".into(),
            minutes: 60,
            low_charge_below_percent: Some(20),
            low_charge_extra_minutes: Some(120),
        })
        .await
        .expect("turnaround");
        register(&mut c, "V1", VehicleModel::Es6, 1).await;

        // V1 comes back to PVG at t0 with 10 % charge.
        let hire = "O-HIRE";
        confirmed_order(&t, hire, VehicleModel::Es6, t0 - time::Duration::hours(5), 4).await;
        t.order_event(
            hire,
            "VehiclePickedUp",
            &opb::VehiclePickedUp {
                order_id: hire.into(),
                picked_up_at: Some(ts(t0 - time::Duration::hours(5))),
                vehicle_id: "V1".into(),
                odometer_km: 1000,
                charge_percent: 90,
                ..Default::default()
            },
        )
        .await;
        t.order_event(
            hire,
            "VehicleReturned",
            &opb::VehicleReturned {
                order_id: hire.into(),
                returned_at: Some(ts(t0)),
                return_location: station("PVG"),
                odometer_km: 1300,
                charge_percent: 10,
                ..Default::default()
            },
        )
        .await;
        eventually("the return read on V1", || {
            let mut c = c.clone();
            async move {
                let v = c
                    .get_vehicle(pb::GetVehicleRequest {
                        vehicle_id: "V1".into(),
                        consistency: None,
                    })
                    .await
                    .ok()?
                    .into_inner();
                (v.charge_percent == 10 && v.on_hire_order_id.is_empty()).then_some(())
            }
        })
        .await;

        // An order at PVG 2 h after the return: V1 is ready only at +3 h, so it is at risk.
        confirmed_order(&t, "O-SOON", VehicleModel::Es6, t0 + time::Duration::hours(2), 4).await;
        let reason = at_risk(&c, "O-SOON").await;
        assert!(!reason.is_empty());
        // Without the rule V1 is ready at +1 h: the order gets it.
        c.set_turnaround(pb::SetTurnaroundRequest {
            context: rid(),
            city: "SHA".into(),
            minutes: 60,
            low_charge_below_percent: Some(0),
            low_charge_extra_minutes: None,
        })
        .await
        .expect("rule off");
        let city = c
            .get_city(pb::GetCityRequest {
                city: "SHA".into(),
                consistency: None,
            })
            .await
            .expect("city")
            .into_inner();
        assert_eq!(city.turnaround_minutes, 60);
        assert_eq!(assigned(&c, "O-SOON").await, "V1");

        // Bad input is named and changes nothing.
        let e = c
            .set_turnaround(pb::SetTurnaroundRequest {
                context: rid(),
                city: "SHA".into(),
                minutes: 60,
                low_charge_below_percent: Some(30),
                low_charge_extra_minutes: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("low_charge_extra_minutes"), "{}", e.message());
        t.stop().await;
    }
}
