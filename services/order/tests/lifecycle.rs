//! Every command and query path of the order service over gRPC, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use rentops_proto::common::{PageRequest, VehicleModel};
use rentops_proto::order as pb;
use tonic::Code;

rentops_testkit::per_backend! {
    async fn an_order_runs_its_whole_life_over_grpc(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let mut c = t.client();

        let placed = place(&mut c, "APP-1001").await;
        assert!(placed.created, "{label}");
        let order_id = placed.order_id.clone();
        let o = get(&mut c, &order_id, placed.sequence).await;
        assert_eq!(o.status, pb::OrderStatus::Placed as i32);
        assert_eq!(o.price.as_ref().map(|m| m.amount_fen), Some(120_000));
        assert_eq!(o.customer.as_ref().map(|c| c.name.as_str()), Some("王芳"));
        assert_eq!(o.cover_tier, rentops_proto::common::CoverTier::Full as i32, "{label}: the agreement's cover");

        // The confirmation queue holds it, due two hours after placement.
        let queue = c
            .list_confirmation_queue(pb::ListConfirmationQueueRequest {
                consistency: after(placed.sequence),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(queue.entries.len(), 1, "{label}");
        assert_eq!(queue.entries[0].order_id, order_id);

        // Confirming before anyone reached the customer is refused.
        let err = c
            .confirm_order(pb::ConfirmOrderRequest {
                context: rid(),
                order_id: order_id.clone(),
                notes: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{label}: {err:?}");

        let no_answer = c
            .record_contact_attempt(pb::RecordContactAttemptRequest {
                context: rid(),
                order_id: order_id.clone(),
                outcome: pb::ContactOutcome::NoAnswer as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let o = get(&mut c, &order_id, no_answer.sequence).await;
        assert_eq!(o.contact_attempts, 1);
        assert!(!o.reached);

        let seq = reach_and_confirm(&mut c, &order_id).await;
        let o = get(&mut c, &order_id, seq).await;
        assert_eq!(o.status, pb::OrderStatus::Confirmed as i32, "{label}");
        let queue = c
            .list_confirmation_queue(pb::ListConfirmationQueueRequest {
                consistency: after(seq),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(queue.entries.is_empty(), "a confirmed order leaves the queue");

        let changed = c
            .change_order(pb::ChangeOrderRequest {
                context: rid(),
                order_id: order_id.clone(),
                requested_model: VehicleModel::Es8 as i32,
                reason: "customer asked for the ES8".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let o = get(&mut c, &order_id, changed.sequence).await;
        assert_eq!(o.requested_model, VehicleModel::Es8 as i32);

        let picked = c
            .record_pickup(pb::RecordPickupRequest {
                context: rid(),
                order_id: order_id.clone(),
                vehicle_id: "V0001".into(),
                plate: "沪AD12345".into(),
                odometer_km: 12_000,
                charge_percent: 92,
                damage_noted: String::new(),
                picked_up_at: None,
            })
            .await
            .unwrap()
            .into_inner();
        let o = get(&mut c, &order_id, picked.sequence).await;
        assert_eq!(
            o.pickup.as_ref().map(|p| p.plate.as_str()),
            Some("沪A·D12345"),
            "plates are normalised"
        );

        let err = c
            .record_return(pb::RecordReturnRequest {
                context: rid(),
                order_id: order_id.clone(),
                odometer_km: 11_999,
                charge_percent: 30,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("odometer_km"), "{}", err.message());

        c.record_return(pb::RecordReturnRequest {
            context: rid(),
            order_id: order_id.clone(),
            odometer_km: 12_420,
            charge_percent: 35,
            damage_noted: "scratch on the rear bumper".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let done = c
            .complete_order(pb::CompleteOrderRequest {
                context: rid(),
                order_id: order_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let o = get(&mut c, &order_id, done.sequence).await;
        assert_eq!(o.status, pb::OrderStatus::Completed as i32);
        assert_eq!(o.r#return.as_ref().map(|r| r.odometer_km), Some(12_420));

        let history = c
            .get_order_history(pb::GetOrderHistoryRequest {
                order_id: order_id.clone(),
                consistency: after(done.sequence),
            })
            .await
            .unwrap()
            .into_inner();
        let types: Vec<&str> = history.entries.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "OrderPlaced",
                "ContactAttemptRecorded",
                "ContactAttemptRecorded",
                "OrderConfirmed",
                "OrderChanged",
                "VehiclePickedUp",
                "VehicleReturned",
                "OrderCompleted"
            ],
            "{label}"
        );
        assert!(history.entries.iter().all(|e| e.actor == "desk:li"));

        // As of just after placement, the order was placed with the ES6 requested.
        let first = &history.entries[0];
        let as_of = c
            .get_order(pb::GetOrderRequest {
                order_id: order_id.clone(),
                as_of: first.recorded_at,
                consistency: None,
            })
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(as_of.status, pb::OrderStatus::Placed as i32);
        assert_eq!(as_of.requested_model, VehicleModel::Es6 as i32);

        t.replica.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn cancellations_no_shows_and_listing_with_filters_and_paging(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let mut c = t.client();
        let mut last = 0;
        let mut ids = Vec::new();
        for i in 0..7 {
            let mut req = place_request(&format!("WEB-{i}"));
            req.channel = pb::Channel::Web as i32;
            if i % 2 == 1 {
                req.city = "PEK".into();
            }
            let r = c.place_order(req).await.unwrap().into_inner();
            last = r.sequence;
            ids.push(r.order_id);
        }
        let cancelled = c
            .cancel_order(pb::CancelOrderRequest {
                context: rid(),
                order_id: ids[0].clone(),
                cancelled_by: pb::CancelledBy::Customer as i32,
                reason: "flight cancelled".into(),
            })
            .await
            .unwrap()
            .into_inner();
        last = last.max(cancelled.sequence);

        // Page through Shanghai's orders two at a time.
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = c
                .list_orders(pb::ListOrdersRequest {
                    city: "SHA".into(),
                    page: Some(PageRequest {
                        page_size: 2,
                        page_token: token.clone(),
                    }),
                    consistency: after(last),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            seen.extend(page.orders.iter().map(|o| o.order_id.clone()));
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        assert_eq!(seen.len(), 4, "{label}: SHA has orders 0, 2, 4, 6");
        let placed_only = c
            .list_orders(pb::ListOrdersRequest {
                statuses: vec![pb::OrderStatus::Cancelled as i32],
                consistency: after(last),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(placed_only.orders.len(), 1);
        assert_eq!(placed_only.orders[0].cancel_reason, "flight cancelled");
        let by_channel = c
            .list_orders(pb::ListOrdersRequest {
                channel: pb::Channel::App as i32,
                consistency: after(last),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(by_channel.orders.is_empty());

        // A cancelled order cannot be confirmed; a no-show cannot precede the pickup time.
        let err = c
            .confirm_order(pb::ConfirmOrderRequest {
                context: rid(),
                order_id: ids[0].clone(),
                notes: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        reach_and_confirm(&mut c, &ids[1]).await;
        let err = c
            .mark_no_show(pb::MarkNoShowRequest {
                context: rid(),
                order_id: ids[1].clone(),
                notes: String::new(),
            })
            .await
            .unwrap_err();
        // A rule of the business (the customer may still come), not a bad field.
        assert_eq!(err.code(), Code::FailedPrecondition, "{label}");
        assert!(err.message().contains("pickup time"), "{label}: {err:?}");

        let missing = c
            .get_order(pb::GetOrderRequest {
                order_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound);
        let missing = c
            .cancel_order(pb::CancelOrderRequest {
                context: rid(),
                order_id: uuid::Uuid::new_v4().to_string(),
                cancelled_by: pb::CancelledBy::Desk as i32,
                reason: "x".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound);
        t.replica.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer() {
    let db = rentops_testkit::TestDatabase::Sqlite(rentops_testkit::SqliteDatabase::new().unwrap());
    let t = TestApp::spawn(db).await;
    assert!(
        rentops_testkit::grpc::is_serving(t.replica.app.addr, "rentops.order.v1.OrderService")
            .await
            .unwrap()
    );

    // Reflection lists what this binary serves, and nothing of its neighbours'.
    assert_eq!(
        rentops_testkit::grpc::reflected_services(t.replica.app.addr)
            .await
            .unwrap(),
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "rentops.admin.v1.ProjectionAdmin",
            "rentops.order.v1.OrderService",
        ]
    );
    t.replica.stop().await;
}
