//! Fleet's plan events folded into the orders, over real NATS, on SQLite and PostgreSQL: the
//! test plays fleet, publishing well-formed plan events (CloudEvents envelope) on `FLEET`, and
//! reads the orders back over the order service's gRPC API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use common::*;
use prost::Message;
use rentops_eventstore::{EventMeta, StreamSettings, ensure_stream};
use rentops_proto::common::VehicleModel;
use rentops_proto::fleet as fleet_pb;
use rentops_proto::order as pb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use time::OffsetDateTime;
use tonic::transport::Channel;
use uuid::Uuid;

/// Plays the fleet service: publishes plan events of city SHA with the envelope.
struct Fleet {
    js: jetstream::Context,
}

/// A published plan event: what it was, to publish it again.
#[derive(Clone)]
struct Published {
    subject: String,
    headers: HeaderMap,
    payload: Vec<u8>,
    event_id: Uuid,
}

impl Fleet {
    async fn start(nats_url: &str) -> Fleet {
        let client = async_nats::connect(nats_url).await.expect("nats");
        let js = jetstream::new(client);
        ensure_stream(&js, &StreamSettings::for_service("fleet", 1))
            .await
            .expect("FLEET stream");
        Fleet { js }
    }

    async fn publish(&self, name: &str, payload: Vec<u8>) -> Published {
        let event_id = Uuid::now_v7();
        let meta = EventMeta {
            event_id,
            event_type: format!("rentops.fleet.v1.{name}"),
            source: "fleet".into(),
            aggregate_id: "SHA".into(),
            time: OffsetDateTime::now_utc(),
            correlation_id: "corr-replan-1".into(),
            causation_id: "cause-1".into(),
            actor: "system:fleet-replan".into(),
            request_id: format!("replan:{event_id}"),
        };
        let mut headers = HeaderMap::new();
        meta.write_headers(&mut headers);
        let published = Published {
            subject: format!("rentops.fleet.plan.SHA.{name}"),
            headers,
            payload,
            event_id,
        };
        self.again(&published).await;
        published
    }

    /// The same message once more (a redelivery as fleet's outbox or an operator might cause it):
    /// same `ce-id` (the harness gives its events ids of their own, so the id is written), a new
    /// stream message.
    async fn again(&self, p: &Published) {
        // A message id of its own, or the log would store it once.
        let mut headers = p.headers.clone();
        headers.insert("Nats-Msg-Id", format!("SHA:again-{}:0", Uuid::now_v7()).as_str());
        self.js
            .publish_with_headers(p.subject.clone(), headers, p.payload.clone().into())
            .await
            .expect("publish")
            .await
            .expect("stored");
    }

    async fn assigned(&self, order_id: &str, vehicle_id: &str, plate: &str) -> Published {
        let m = fleet_pb::VehicleAssigned {
            order_id: order_id.into(),
            vehicle_id: vehicle_id.into(),
            plate: plate.into(),
            model: VehicleModel::Es6 as i32,
            upgrade: false,
            plan_id: "P1".into(),
            assigned_at: Some(ts(OffsetDateTime::now_utc())),
        };
        self.publish("VehicleAssigned", m.encode_to_vec()).await
    }

    async fn reassigned(&self, order_id: &str, from: &str, vehicle_id: &str, plate: &str) -> Published {
        let m = fleet_pb::VehicleReassigned {
            order_id: order_id.into(),
            from_vehicle_id: from.into(),
            vehicle_id: vehicle_id.into(),
            plate: plate.into(),
            model: VehicleModel::Es8 as i32,
            upgrade: true,
            plan_id: "P2".into(),
            reason: "BREAKDOWN".into(),
            assigned_at: Some(ts(OffsetDateTime::now_utc())),
        };
        self.publish("VehicleReassigned", m.encode_to_vec()).await
    }

    async fn released(&self, order_id: &str, vehicle_id: &str) -> Published {
        let m = fleet_pb::AssignmentReleased {
            order_id: order_id.into(),
            vehicle_id: vehicle_id.into(),
            reason: "NO_CAR".into(),
            plan_id: "P3".into(),
            released_at: Some(ts(OffsetDateTime::now_utc())),
        };
        self.publish("AssignmentReleased", m.encode_to_vec()).await
    }

    async fn at_risk(&self, order_id: &str) -> Published {
        let m = fleet_pb::OrderAtRisk {
            order_id: order_id.into(),
            reason: "ALL_COMPATIBLE_BLOCKED".into(),
            explanation: "every ES6 or upgrade is blocked at that time".into(),
            plan_id: "P3".into(),
            flagged_at: Some(ts(OffsetDateTime::now_utc())),
        };
        self.publish("OrderAtRisk", m.encode_to_vec()).await
    }

    async fn plan_published(&self) -> Published {
        let m = fleet_pb::PlanPublished {
            city: "SHA".into(),
            plan_id: "P3".into(),
            planned_at: Some(ts(OffsetDateTime::now_utc())),
            ..Default::default()
        };
        self.publish("PlanPublished", m.encode_to_vec()).await
    }
}

/// Waits (with a deadline) until the order's view satisfies `ok`: the reactor and the projector
/// run in the background, and the test cannot know the sequence the reactor will append.
async fn wait_for(
    c: &mut OrderServiceClient<Channel>,
    order_id: &str,
    what: &str,
    ok: impl Fn(&pb::Order) -> bool,
) -> pb::Order {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let o = c
            .get_order(pb::GetOrderRequest {
                order_id: order_id.into(),
                as_of: None,
                consistency: None,
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().order);
        if let Some(o) = o.as_ref().filter(|o| ok(o)) {
            return o.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: order is {o:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn history(c: &mut OrderServiceClient<Channel>, order_id: &str, seq: u64) -> Vec<pb::HistoryEntry> {
    c.get_order_history(pb::GetOrderHistoryRequest {
        order_id: order_id.into(),
        consistency: after(seq),
    })
    .await
    .expect("history")
    .into_inner()
    .entries
}

async fn at_risk_list(c: &mut OrderServiceClient<Channel>, seq: u64) -> Vec<String> {
    c.list_orders(pb::ListOrdersRequest {
        at_risk_only: true,
        consistency: after(seq),
        ..Default::default()
    })
    .await
    .expect("list")
    .into_inner()
    .orders
    .into_iter()
    .map(|o| o.order_id)
    .collect()
}

rentops_testkit::per_backend! {
    async fn fleets_plan_shows_on_the_orders(db: TestDatabase) {
        let label = db.label();
        // The order service starts before fleet: its reactor waits for the FLEET stream.
        let t = TestApp::spawn(db).await;
        let mut c = t.client();
        let a = place(&mut c, "APP-PLAN-A").await.order_id;
        let b = place(&mut c, "APP-PLAN-B").await.order_id;
        reach_and_confirm(&mut c, &a).await;
        reach_and_confirm(&mut c, &b).await;
        let fleet = Fleet::start(&t.nats.url()).await;

        // A car assigned: the order shows its plate.
        let first = fleet.assigned(&a, "V1", "沪A·D00001").await;
        let o = wait_for(&mut c, &a, "assigned", |o| o.assigned_plate == "沪A·D00001").await;
        assert_eq!(o.assigned_vehicle_id, "V1", "{label}");
        assert_eq!(o.assigned_model, VehicleModel::Es6 as i32);
        assert!(!o.upgrade && !o.at_risk);
        let h = history(&mut c, &a, o.sequence).await;
        let last = h.last().expect("history");
        assert_eq!(last.event_type, "VehicleAssignmentRecorded", "{label}");
        assert_eq!(
            last.request_id,
            first.event_id.to_string(),
            "the plan event's id is the request id"
        );
        assert_eq!(last.correlation_id, "corr-replan-1");
        assert_eq!(last.actor, "system:fleet-plan");

        // Re-assigned after a breakdown: another car, an upgrade.
        fleet.reassigned(&a, "V1", "V2", "沪A·D00002").await;
        let o = wait_for(&mut c, &a, "reassigned", |o| o.assigned_plate == "沪A·D00002").await;
        assert_eq!(o.assigned_vehicle_id, "V2", "{label}");
        assert_eq!(o.assigned_model, VehicleModel::Es8 as i32);
        assert!(o.upgrade);

        // No car any more: released, then flagged at risk; the desk's at-risk list finds it.
        fleet.released(&a, "V2").await;
        fleet.at_risk(&a).await;
        fleet.plan_published().await;
        let o = wait_for(&mut c, &a, "at risk", |o| o.at_risk).await;
        assert_eq!(o.assigned_plate, "", "{label}");
        assert_eq!(o.at_risk_reason, "ALL_COMPATIBLE_BLOCKED");
        assert_eq!(o.at_risk_explanation, "every ES6 or upgrade is blocked at that time");
        assert_eq!(at_risk_list(&mut c, o.sequence).await, vec![a.clone()], "{label}");

        // A later assignment clears the flag.
        let later = fleet.assigned(&a, "V3", "沪A·D00003").await;
        let o = wait_for(&mut c, &a, "assigned again", |o| o.assigned_plate == "沪A·D00003").await;
        assert!(!o.at_risk, "{label}");
        assert!(at_risk_list(&mut c, o.sequence).await.is_empty());
        let events_of_a = history(&mut c, &a, o.sequence).await.len();

        // The same event again (same ce-id), and one for an order the order service does not
        // know: both pass without effect, and the events behind them still apply.
        fleet.again(&later).await;
        fleet.again(&first).await;
        let unknown = Uuid::new_v4().to_string();
        fleet.assigned(&unknown, "V9", "沪A·D00009").await;
        fleet.assigned(&b, "V4", "沪A·D00004").await;
        let ob = wait_for(&mut c, &b, "after the skipped ones", |o| {
            o.assigned_plate == "沪A·D00004"
        })
        .await;
        let h = history(&mut c, &a, ob.sequence).await;
        assert_eq!(
            h.len(),
            events_of_a,
            "{label}: a redelivered plan event appended nothing"
        );
        let o = get(&mut c, &a, ob.sequence).await;
        assert_eq!(
            o.assigned_plate, "沪A·D00003",
            "{label}: the old assignment was not applied again"
        );
        let err = c
            .get_order(pb::GetOrderRequest {
                order_id: unknown,
                as_of: None,
                consistency: after(ob.sequence),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound, "{label}: no order was made up");

        t.replica.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn the_plan_no_longer_changes_a_cancelled_order(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let mut c = t.client();
        let fleet = Fleet::start(&t.nats.url()).await;
        let a = place(&mut c, "APP-PLAN-C").await.order_id;
        let b = place(&mut c, "APP-PLAN-D").await.order_id;
        reach_and_confirm(&mut c, &a).await;
        reach_and_confirm(&mut c, &b).await;
        let cancelled = c
            .cancel_order(pb::CancelOrderRequest {
                context: rid(),
                order_id: a.clone(),
                cancelled_by: pb::CancelledBy::Customer as i32,
                reason: "plans changed".into(),
            })
            .await
            .expect("cancelled")
            .into_inner()
            .sequence;
        let before = history(&mut c, &a, cancelled).await.len();
        fleet.assigned(&a, "V1", "沪A·D00001").await;
        fleet.assigned(&b, "V2", "沪A·D00002").await;
        let ob = wait_for(&mut c, &b, "b assigned", |o| o.assigned_plate == "沪A·D00002").await;
        assert_eq!(history(&mut c, &a, ob.sequence).await.len(), before, "{label}");
        assert_eq!(get(&mut c, &a, ob.sequence).await.assigned_plate, "", "{label}");
        t.replica.stop().await;
    }
}
