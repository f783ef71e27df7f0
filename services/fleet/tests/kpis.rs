//! KPIs computed as docs/domain.md defines them, on a small hand-made day with a known answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::fleet as pb;
use rentops_proto::order as opb;
use time::OffsetDateTime;
use time::macros::datetime;

const DAY: OffsetDateTime = datetime!(2026-12-02 00:00 +08:00);

fn at(h: i64, m: i64) -> OffsetDateTime {
    DAY + time::Duration::hours(h) + time::Duration::minutes(m)
}

async fn hire(
    t: &TestApp,
    order: &str,
    model: VehicleModel,
    pickup: OffsetDateTime,
    car: &str,
    picked: OffsetDateTime,
    back: OffsetDateTime,
) {
    confirmed_order(t, order, model, pickup, 6).await;
    t.order_event(
        order,
        "VehiclePickedUp",
        &opb::VehiclePickedUp {
            order_id: order.into(),
            picked_up_at: Some(ts(picked)),
            vehicle_id: car.into(),
            plate: String::new(),
            odometer_km: 1000,
            charge_percent: 90,
            ..Default::default()
        },
    )
    .await;
    t.order_event(
        order,
        "VehicleReturned",
        &opb::VehicleReturned {
            order_id: order.into(),
            returned_at: Some(ts(back)),
            return_location: station("PVG"),
            odometer_km: 1100,
            charge_percent: 40,
            damage_noted: String::new(),
        },
    )
    .await;
}

async fn cancelled(t: &TestApp, order: &str, pickup: OffsetDateTime, by: opb::CancelledBy) {
    confirmed_order(t, order, VehicleModel::Es6, pickup, 6).await;
    t.order_event(
        order,
        "OrderCancelled",
        &opb::OrderCancelled {
            order_id: order.into(),
            cancelled_at: Some(ts(pickup - time::Duration::hours(1))),
            cancelled_by: by as i32,
            reason: String::new(),
        },
    )
    .await;
}

/// The hand-made day: two cars, six orders (see the test below), and the sequence to read at.
async fn known_day(t: &TestApp) -> u64 {
    let mut c = t.client();
    configure_sha(&mut c).await;
    register(&mut c, "V1", VehicleModel::Es6, 1).await;
    register(&mut c, "V8", VehicleModel::Es8, 8).await;
    let seq = c
        .schedule_maintenance(pb::ScheduleMaintenanceRequest {
            context: rid(),
            vehicle_id: "V1".into(),
            from: Some(ts(at(21, 0))),
            to: Some(ts(at(24, 0))),
            reason: "tyres".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .sequence;
    // ES6 orders: A on time with an ES6 (fulfilled); B 45 min late (failed); C on time with
    // an ES8 (upgrade: fulfilled); D cancelled by the customer (not counted); E cancelled for
    // shortage (failed). ES8 order F served with an ES6 (downgrade: failed).
    hire(t, "A", VehicleModel::Es6, at(8, 0), "V1", at(8, 20), at(14, 20)).await;
    hire(t, "B", VehicleModel::Es6, at(9, 0), "V8", at(9, 45), at(11, 45)).await;
    hire(t, "C", VehicleModel::Es6, at(15, 0), "V8", at(15, 0), at(17, 0)).await;
    cancelled(t, "D", at(12, 0), opb::CancelledBy::Customer).await;
    cancelled(t, "E", at(13, 0), opb::CancelledBy::Shortage).await;
    hire(t, "F", VehicleModel::Es8, at(18, 0), "V1", at(18, 10), at(20, 0)).await;
    let order_last =
        t.js.get_stream("ORDER")
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .last_sequence;
    t.app
        .demand_projector
        .checkpoints
        .wait_for(order_last, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    seq
}

/// The ES6 row of the day's KPIs, read at 03:00 the next morning.
async fn es6_row(t: &TestApp, seq: u64) -> pb::KpiRow {
    let kpis = t
        .client()
        .get_kpis(pb::GetKpisRequest {
            city: "SHA".into(),
            model: VehicleModel::Es6 as i32,
            from_day: "2026-12-02".into(),
            to_day: "2026-12-02".into(),
            consistency: Some(Consistency {
                min_sequence: seq,
                timeout_ms: 10_000,
            }),
            by_model: true,
        })
        .await
        .unwrap()
        .into_inner();
    kpis.rows
        .into_iter()
        .find(|r| r.model == VehicleModel::Es6 as i32)
        .unwrap()
}

rentops_testkit::per_backend! {
    async fn fulfilment_and_idle_rates_of_a_known_day(db: TestDatabase) {
        let label = db.label();
        let clock = rentops_runtime::ManualClock::at(DAY);
        let t = TestApp::spawn_with_clock(db, clock.clone()).await;
        let mut c = t.client();
        let seq = known_day(&t).await;
        clock.set(at(27, 0));
        let kpis = c
            .get_kpis(pb::GetKpisRequest {
                city: "SHA".into(),
                model: 0,
                from_day: "2026-12-02".into(),
                to_day: "2026-12-02".into(),
                consistency: Some(Consistency {
                    min_sequence: seq,
                    timeout_ms: 10_000,
                }),
                by_model: true,
            })
            .await
            .unwrap()
            .into_inner();
        let row = |m: VehicleModel| kpis.rows.iter().find(|r| r.model == m as i32).unwrap().clone();
        let es6 = row(VehicleModel::Es6);
        assert_eq!(
            (es6.due_orders, es6.fulfilled_orders, es6.pending_orders),
            (4, 2, 0),
            "{label}: {es6:?}"
        );
        assert!((es6.fulfilment_rate.unwrap() - 0.5).abs() < 1e-9);
        // V1 (ES6): 24 h less 3 h maintenance = 21 h available; on hire 6 h (A) + 1 h 50 (F).
        assert!((es6.available_hours - 21.0).abs() < 1e-6, "{label}: {es6:?}");
        assert!(
            (es6.on_rent_hours - (6.0 + 110.0 / 60.0)).abs() < 1e-6,
            "{label}: {es6:?}"
        );
        assert!((es6.idle_rate.unwrap() - (1.0 - (6.0 + 110.0 / 60.0) / 21.0)).abs() < 1e-9);
        let es8 = row(VehicleModel::Es8);
        assert_eq!(
            (es8.due_orders, es8.fulfilled_orders),
            (1, 0),
            "{label}: a downgrade fails"
        );
        // V8 (ES8): 24 h available, 2 h (B) + 2 h (C) on hire.
        assert!((es8.idle_rate.unwrap() - (1.0 - 4.0 / 24.0)).abs() < 1e-9, "{label}: {es8:?}");
        // Readings of the handovers reached the vehicles.
        let v1 = eventually("V1's last reading", || async {
            let mut c = t.client();
            let v = c
                .get_vehicle(pb::GetVehicleRequest {
                    vehicle_id: "V1".into(),
                    consistency: None,
                })
                .await
                .unwrap()
                .into_inner();
            (v.odometer_km == 1100).then_some(v)
        })
        .await;
        assert_eq!(v1.charge_percent, 40, "{label}");
        assert_eq!(v1.state, pb::VehicleState::Available as i32);
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    /// The handover grace is configuration: at 60 minutes, B's pickup 45 minutes late counts.
    async fn the_handover_grace_is_configuration(db: TestDatabase) {
        let label = db.label();
        let clock = rentops_runtime::ManualClock::at(DAY);
        let vars = vec![("RENTOPS_FLEET_HANDOVER_GRACE_MINUTES".to_owned(), "60".to_owned())];
        let t = TestApp::spawn_configured(db, clock.clone(), vars).await;
        let seq = known_day(&t).await;
        clock.set(at(27, 0));
        let es6 = es6_row(&t, seq).await;
        assert_eq!((es6.due_orders, es6.fulfilled_orders), (4, 3), "{label}: {es6:?}");
        t.stop().await;
    }
}

async fn kpis(t: &TestApp, seq: u64, by_model: bool) -> Vec<pb::KpiRow> {
    t.client()
        .get_kpis(pb::GetKpisRequest {
            city: "SHA".into(),
            model: 0,
            from_day: "2026-12-01".into(),
            to_day: "2026-12-03".into(),
            consistency: Some(Consistency {
                min_sequence: seq,
                timeout_ms: 10_000,
            }),
            by_model,
        })
        .await
        .unwrap()
        .into_inner()
        .rows
}

rentops_testkit::per_backend! {
    /// Given one ES6 registered at 10:00 on 2 December and one ES8 order due on the 3rd, the KPIs
    /// of 1–3 December are one row a day; per model only ES6 and ES8 have rows; and a rate with
    /// nothing to divide by (no car yet, no order due, no plan serving the day) is unset.
    async fn a_rate_with_nothing_to_divide_by_is_unset_and_rows_are_per_day(db: TestDatabase) {
        let label = db.label();
        let clock = rentops_runtime::ManualClock::at(DAY);
        let t = TestApp::spawn_with_clock(db, clock.clone()).await;
        let mut c = t.client();
        configure_sha(&mut c).await;
        clock.set(at(10, 0));
        let seq = register(&mut c, "V1", VehicleModel::Es6, 1).await;
        confirmed_order(&t, "G", VehicleModel::Es8, at(34, 0), 4).await;
        let order_last = t.js.get_stream("ORDER").await.unwrap().info().await.unwrap().state.last_sequence;
        t.app
            .demand_projector
            .checkpoints
            .wait_for(order_last, std::time::Duration::from_secs(10))
            .await
            .unwrap();
        clock.set(at(51, 0));

        let days = kpis(&t, seq, false).await;
        let names: Vec<(&str, i32)> = days.iter().map(|r| (r.day.as_str(), r.model)).collect();
        assert_eq!(
            names,
            [("2026-12-01", 0), ("2026-12-02", 0), ("2026-12-03", 0)],
            "{label}: one row a day, over every model"
        );
        let first = &days[0];
        assert_eq!(
            (first.fulfilment_rate, first.idle_rate, first.planned_fulfilment_rate, first.planned_idle_rate),
            (None, None, None, None),
            "{label}: before any car, with no order: no figure at all, {first:?}"
        );
        let second = &days[1];
        assert_eq!(second.fulfilment_rate, None, "{label}: no order due on the 2nd");
        assert!((second.available_hours - 14.0).abs() < 1e-6, "{label}: {second:?}");
        assert_eq!(second.idle_rate, Some(1.0), "{label}: 14 h available, none on rent");
        let third = &days[2];
        assert_eq!(
            (third.due_orders, third.fulfilled_orders, third.fulfilment_rate),
            (1, 0, Some(0.0)),
            "{label}: a failed order is a rate of 0, not no figure: {third:?}"
        );

        let rows = kpis(&t, seq, true).await;
        let mut models: Vec<i32> = rows.iter().map(|r| r.model).collect();
        models.dedup();
        models.sort_unstable();
        models.dedup();
        assert_eq!(
            models,
            [VehicleModel::Es6 as i32, VehicleModel::Es8 as i32],
            "{label}: only the models the city has cars or orders for"
        );
        assert_eq!(rows.len(), 6, "{label}: {rows:?}");
        let es8_first = rows
            .iter()
            .find(|r| r.model == VehicleModel::Es8 as i32 && r.day == "2026-12-01")
            .unwrap();
        assert_eq!(
            (es8_first.fulfilment_rate, es8_first.idle_rate),
            (None, None),
            "{label}: no ES8 car and no ES8 order that day: {es8_first:?}"
        );
        t.stop().await;
    }
}
