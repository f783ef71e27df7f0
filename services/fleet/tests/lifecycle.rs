//! The fleet's flows over gRPC, with order events on a real ORDER stream, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use prost::Message;
use rentops_proto::common::VehicleModel;
use rentops_proto::fleet as pb;
use rentops_proto::order as opb;
use time::OffsetDateTime;

fn decode<M: Message + Default>(events: &[(String, bytes::Bytes)]) -> Vec<M> {
    events.iter().map(|(_, b)| M::decode(b.as_ref()).unwrap()).collect()
}

rentops_testkit::per_backend! {
    async fn orders_get_cars_a_breakdown_moves_or_flags_them_and_a_cancellation_releases(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let mut c = t.client();
        configure_sha(&mut c).await;
        register(&mut c, "V1", VehicleModel::Es6, 1).await;
        let seq = register(&mut c, "V8", VehicleModel::Es8, 8).await;
        let v = c
            .get_vehicle(pb::GetVehicleRequest {
                vehicle_id: "V8".into(),
                consistency: Some(rentops_proto::common::Consistency {
                    min_sequence: seq,
                    timeout_ms: 10_000,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v.state, pb::VehicleState::Available as i32, "{label}");
        assert_eq!(v.plate, "沪A·D00008");

        // Two ES6 orders at the same time in three days, one more two days later.
        let d3 = OffsetDateTime::now_utc() + time::Duration::days(3);
        confirmed_order(&t, "O1", VehicleModel::Es6, d3, 24).await;
        confirmed_order(&t, "O2", VehicleModel::Es6, d3, 24).await;
        confirmed_order(&t, "O3", VehicleModel::Es6, d3 + time::Duration::days(2), 24).await;
        let o1 = assigned(&c, "O1").await;
        let o2 = assigned(&c, "O2").await;
        let o3 = assigned(&c, "O3").await;
        assert_ne!(o1, o2, "{label}: both cars serve the two simultaneous orders");
        let assigned_events =
            decode::<pb::VehicleAssigned>(&t.fleet_events("rentops.fleet.plan.SHA.VehicleAssigned").await);
        for o in ["O1", "O2", "O3"] {
            assert!(
                assigned_events.iter().any(|a| a.order_id == o),
                "{label}: VehicleAssigned for {o}"
            );
        }
        let upgraded: Vec<_> = assigned_events.iter().filter(|a| a.upgrade).collect();
        assert!(
            upgraded.iter().all(|a| a.vehicle_id == "V8"),
            "{label}: only the ES8 is an upgrade"
        );
        let summary = plan(&mut c).await.summary.expect("a plan was published");
        assert_eq!(summary.fulfilled, 3, "{label}");

        // The car that serves O3 breaks down until after O3: O3 moves to the other car, and the
        // broken car's order at d3 cannot be served (the other car has its own then).
        let broken = o3.clone();
        let other = if broken == "V1" { "V8" } else { "V1" };
        let at_d3 = if o1 == broken { "O1" } else { "O2" };
        c.report_breakdown(pb::ReportBreakdownRequest {
            context: rid(),
            vehicle_id: broken.clone(),
            station_or_address: "PVG".into(),
            severity: pb::Severity::Major as i32,
            expected_repair_until: Some(ts(d3 + time::Duration::days(4))),
            description: "motor fault".into(),
            at: None,
        })
        .await
        .unwrap();
        let reassigned = eventually("O3 reassigned", || async {
            decode::<pb::VehicleReassigned>(&t.fleet_events("rentops.fleet.plan.SHA.VehicleReassigned").await)
                .into_iter()
                .find(|r| r.order_id == "O3")
        })
        .await;
        assert_eq!(
            (reassigned.from_vehicle_id.as_str(), reassigned.vehicle_id.as_str()),
            (broken.as_str(), other),
            "{label}"
        );
        assert!(reassigned.reason.contains("breakdown"), "{}", reassigned.reason);
        let risk = eventually("the broken car's d3 order at risk", || async {
            decode::<pb::OrderAtRisk>(&t.fleet_events("rentops.fleet.plan.SHA.OrderAtRisk").await)
                .into_iter()
                .find(|r| r.order_id == at_d3)
        })
        .await;
        assert_eq!(risk.reason, "CAPACITY", "{label}");
        assert!(!risk.explanation.is_empty());
        let p = eventually("the plan shows it", || async {
            let mut c = t.client();
            let p = plan(&mut c).await;
            p.at_risk.iter().any(|r| r.order_id == at_d3).then_some(p)
        })
        .await;
        assert!(
            p.assignments.iter().all(|a| a.vehicle_id != broken),
            "{label}: nothing on the broken car"
        );

        // The customer at d3 who has a car cancels: the car is released, and the order at risk
        // gets it.
        let kept = if at_d3 == "O1" { "O2" } else { "O1" };
        let cancel = opb::OrderCancelled {
            order_id: kept.into(),
            cancelled_at: Some(ts(OffsetDateTime::now_utc())),
            cancelled_by: opb::CancelledBy::Customer as i32,
            reason: "plans changed".into(),
        };
        let cancel_id = t.order_event(kept, "OrderCancelled", &cancel).await;
        let released = eventually("released", || async {
            decode::<pb::AssignmentReleased>(&t.fleet_events("rentops.fleet.plan.SHA.AssignmentReleased").await)
                .into_iter()
                .find(|r| r.order_id == kept)
        })
        .await;
        assert_eq!(released.reason, "order cancelled", "{label}");
        assert_eq!(
            assigned(&c, at_d3).await,
            other,
            "{label}: the freed car goes to the order at risk"
        );

        // The same order event delivered again (same event id) re-plans nothing.
        let published = t.count("rentops.fleet.plan.SHA.PlanPublished").await;
        let last = t.fleet_last_sequence().await;
        t.order_event_with_id(kept, "OrderCancelled", &cancel, cancel_id).await;
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
        eventually("the duplicate is handled", || async {
            let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replan_requests")
                .fetch_one(&t.app.db.pool)
                .await
                .unwrap();
            (pending == 0).then_some(())
        })
        .await;
        assert_eq!(
            t.count("rentops.fleet.plan.SHA.PlanPublished").await,
            published,
            "{label}"
        );
        assert_eq!(t.fleet_last_sequence().await, last, "{label}: nothing appended");

        // History and a manual re-plan that changes nothing but is published on request.
        let manual = c
            .trigger_replan(pb::TriggerReplanRequest {
                context: rid(),
                city: "SHA".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let s = manual.plan.unwrap();
        assert_eq!(
            (s.trigger.as_str(), s.fulfilled, s.at_risk),
            ("manual", 2, 0),
            "{label}"
        );
        let history = c
            .list_plan_history(pb::ListPlanHistoryRequest {
                city: "SHA".into(),
                page: Some(rentops_proto::common::PageRequest {
                    page_size: 2,
                    page_token: String::new(),
                }),
                consistency: Some(rentops_proto::common::Consistency {
                    min_sequence: manual.result.unwrap().sequence,
                    timeout_ms: 10_000,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(history.plans.len(), 2, "{label}");
        assert_eq!(history.plans[0].trigger, "manual");
        assert!(!history.page.unwrap().next_page_token.is_empty());
        t.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frozen_window_keeps_a_near_assignment_while_a_later_one_moves() {
    let db = rentops_testkit::TestDatabase::Sqlite(rentops_testkit::SqliteDatabase::new().unwrap());
    let t = TestApp::spawn(db).await;
    let mut c = t.client();
    configure_sha(&mut c).await;
    register(&mut c, "V8", VehicleModel::Es8, 8).await;
    let now = OffsetDateTime::now_utc();
    // Only an ES8 exists: both ES6 orders are upgrades on it.
    confirmed_order(&t, "NEAR", VehicleModel::Es6, now + time::Duration::minutes(90), 2).await;
    confirmed_order(&t, "FAR", VehicleModel::Es6, now + time::Duration::days(3), 24).await;
    assert_eq!(assigned(&c, "NEAR").await, "V8");
    assert_eq!(assigned(&c, "FAR").await, "V8");
    // An ES6 arrives: the far order moves to it (no upgrade needed); the near one, inside the
    // 2 h frozen window, stays where it is.
    register(&mut c, "V6", VehicleModel::Es6, 6).await;
    eventually("FAR moved to the ES6", || async {
        let mut c = t.client();
        plan(&mut c)
            .await
            .assignments
            .into_iter()
            .find(|a| a.order_id == "FAR" && a.vehicle_id == "V6")
    })
    .await;
    assert_eq!(assigned(&c, "NEAR").await, "V8");
    let moved = t.fleet_events("rentops.fleet.plan.SHA.VehicleReassigned").await;
    assert_eq!(moved.len(), 1, "only FAR moved");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_instance_plans_a_file_and_appends_nothing() {
    let db = rentops_testkit::TestDatabase::Sqlite(rentops_testkit::SqliteDatabase::new().unwrap());
    let t = TestApp::spawn(db).await;
    let mut c = t.client();
    let text = std::fs::read_to_string(rentops_testkit::planning_dir().join("small.json")).expect("small.json");
    let before = t.fleet_last_sequence().await;
    let r = c
        .plan_instance(pb::PlanInstanceRequest {
            instance_json: text.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let instance = rentops_planner::Instance::from_json(&text).unwrap();
    let plan = rentops_planner::Plan::from_json(&r.plan_json).unwrap();
    let report = rentops_planner::check(&instance, &plan).expect("a feasible plan");
    let s = r.summary.unwrap();
    assert_eq!(s.fulfilled as usize, report.fulfilled);
    assert_eq!(r.explanations.len(), plan.unassigned.len());
    assert_eq!(t.fleet_last_sequence().await, before);
    let err = c
        .plan_instance(pb::PlanInstanceRequest {
            instance_json: "{\"horizon_start\": 1}".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_what_fleet_serves_and_nothing_of_its_neighbours() {
    let db = rentops_testkit::TestDatabase::Sqlite(rentops_testkit::SqliteDatabase::new().unwrap());
    let t = TestApp::spawn(db).await;
    assert_eq!(
        rentops_testkit::grpc::reflected_services(t.app.addr).await.unwrap(),
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "rentops.admin.v1.ProjectionAdmin",
            "rentops.fleet.v1.FleetService",
        ]
    );
    t.stop().await;
}
