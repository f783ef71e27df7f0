//! Several replicas of the order service on one broker and one database, as a Deployment's pods
//! behind a load balancer run: every answer is the one a single replica gives, all of them come
//! up when started at once on an empty database, and the projector moves to a survivor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use rentops_order::projections::NAME as ORDERS_PROJECTION;
use rentops_proto::order as pb;
use rentops_testkit::{Cluster, TestDatabase};

/// What one command was answered: its result, or its status code and message.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Done { sequence: u64, events_appended: u32 },
    Refused { code: tonic::Code, message: String },
}

fn answer(result: Result<tonic::Response<rentops_proto::common::CommandResult>, tonic::Status>) -> Answer {
    match result {
        Ok(r) => {
            let r = r.into_inner();
            Answer::Done {
                sequence: r.sequence,
                events_appended: r.events_appended,
            }
        }
        Err(status) => Answer::Refused {
            code: status.code(),
            message: status.message().to_owned(),
        },
    }
}

fn call(order_id: &str, outcome: pb::ContactOutcome, request_id: &str) -> pb::RecordContactAttemptRequest {
    pb::RecordContactAttemptRequest {
        context: ctx(request_id),
        order_id: order_id.into(),
        outcome: outcome as i32,
        notes: String::new(),
        call_back_at: None,
        attempted_at: None,
    }
}

fn confirm(order_id: &str) -> pb::ConfirmOrderRequest {
    pb::ConfirmOrderRequest {
        context: rid(),
        order_id: order_id.into(),
        notes: String::new(),
    }
}

/// The desk's day with two orders, each step sent to replica `step % n`: placements, calls,
/// refused and accepted confirmations, a retried request, changes, a cancellation and the
/// refusals that follow it. Returns every answer in order.
async fn desk_day(cluster: &Cluster<Replica>) -> Vec<Answer> {
    let mut step = 0;
    let mut next = || {
        step += 1;
        cluster.replica(step - 1).client.clone()
    };
    let mut out = Vec::new();
    let o1 = next()
        .place_order(place_request("REPLICAS-1"))
        .await
        .unwrap()
        .into_inner();
    let o2 = next()
        .place_order(place_request("REPLICAS-2"))
        .await
        .unwrap()
        .into_inner();
    let (o1, o2) = (o1.order_id, o2.order_id);
    out.push(answer(next().confirm_order(confirm(&o1)).await));
    out.push(answer(
        next()
            .record_contact_attempt(call(&o1, pb::ContactOutcome::NoAnswer, "RQ-1"))
            .await,
    ));
    out.push(answer(next().confirm_order(confirm(&o1)).await));
    out.push(answer(
        next()
            .record_contact_attempt(call(&o1, pb::ContactOutcome::Reached, "RQ-2"))
            .await,
    ));
    // Decided on the state the other replica has just moved on.
    out.push(answer(next().confirm_order(confirm(&o1)).await));
    out.push(answer(next().confirm_order(confirm(&o1)).await));
    // A retry of a request another replica answered is answered as the first time.
    out.push(answer(
        next()
            .record_contact_attempt(call(&o1, pb::ContactOutcome::Reached, "RQ-2"))
            .await,
    ));
    out.push(answer(
        next()
            .record_contact_attempt(call(&o2, pb::ContactOutcome::Reached, "RQ-3"))
            .await,
    ));
    out.push(answer(
        next()
            .change_order(pb::ChangeOrderRequest {
                context: rid(),
                order_id: o2.clone(),
                add_ons: vec!["snow-chains".into()],
                replace_add_ons: true,
                reason: "customer asked".into(),
                ..Default::default()
            })
            .await,
    ));
    out.push(answer(
        next()
            .cancel_order(pb::CancelOrderRequest {
                context: rid(),
                order_id: o2.clone(),
                cancelled_by: pb::CancelledBy::Customer as i32,
                reason: "plans changed".into(),
            })
            .await,
    ));
    out.push(answer(next().confirm_order(confirm(&o2)).await));
    out.push(answer(
        next()
            .change_order(pb::ChangeOrderRequest {
                context: rid(),
                order_id: o2.clone(),
                add_ons: vec![],
                replace_add_ons: true,
                reason: "too late".into(),
                ..Default::default()
            })
            .await,
    ));
    out.push(answer(
        next()
            .cancel_order(pb::CancelOrderRequest {
                context: rid(),
                order_id: o1.clone(),
                cancelled_by: pb::CancelledBy::Desk as i32,
                reason: "duplicate booking".into(),
            })
            .await,
    ));
    out.push(answer(next().confirm_order(confirm(&o1)).await));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_spread_over_replicas_are_answered_as_one_replica_answers_them() {
    for (one, two) in TestDatabase::both()
        .await
        .unwrap()
        .into_iter()
        .zip(TestDatabase::both().await.unwrap())
    {
        let label = one.label();
        let single = Cluster::<Replica>::start(one, 1, &[]).await.unwrap();
        let expected = desk_day(&single).await;
        single.stop().await;
        // The day must contain the answers that matter: refusals and accepted confirmations.
        assert!(
            expected
                .iter()
                .any(|a| matches!(a, Answer::Refused { code, .. } if *code == tonic::Code::FailedPrecondition))
        );
        assert!(
            expected
                .iter()
                .any(|a| matches!(a, Answer::Done { events_appended: 1, .. }))
        );

        let pair = Cluster::<Replica>::start(two, 2, &[]).await.unwrap();
        let spread = desk_day(&pair).await;
        assert_eq!(spread, expected, "{label}: two replicas answered differently from one");
        pair.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_started_at_once_on_an_empty_database_all_come_up() {
    for db in TestDatabase::both().await.unwrap() {
        let label = db.label();
        let cluster = Cluster::<Replica>::start(db, 4, &[])
            .await
            .unwrap_or_else(|e| panic!("{label}: {e:#}"));
        assert_eq!(cluster.len(), 4);
        for i in 0..4 {
            let mut c = cluster.replica(i).client.clone();
            let placed = place(&mut c, &format!("AT-ONCE-{i}")).await;
            get(&mut c, &placed.order_id, placed.sequence).await;
        }
        cluster.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projector_moves_to_a_survivor_and_the_read_model_ends_equal_to_the_stream() {
    for db in TestDatabase::both().await.unwrap() {
        let label = db.label();
        let lease = [("RENTOPS_PROJECTOR_LEASE_SECS", "2")];
        let mut cluster = Cluster::<Replica>::start(db, 2, &lease).await.unwrap();
        let holder = cluster
            .lease_holder(ORDERS_PROJECTION, Duration::from_secs(20))
            .await
            .unwrap();
        let mut orders = Vec::new();
        for i in 0..20 {
            let mut c = cluster.replica(i).client.clone();
            let placed = place(&mut c, &format!("LEASE-{i}")).await;
            orders.push(placed.order_id);
        }
        // Killed wherever it is, perhaps between a batch's commit and its ack.
        cluster.kill(holder);
        let survivor = cluster
            .lease_holder(ORDERS_PROJECTION, Duration::from_secs(20))
            .await
            .unwrap();
        let mut c = cluster.replica(survivor).client.clone();
        let confirmed: Vec<&String> = orders.iter().step_by(4).collect();
        for order_id in &confirmed {
            reach_and_confirm(&mut c, order_id).await;
        }
        let stream_last = cluster.stream_last_sequence("ORDER").await.unwrap();
        // Every event of the stream is in the read model exactly once, and each order's state
        // is the one its events give.
        let mut sequences = Vec::new();
        for order_id in &orders {
            let history = c
                .get_order_history(pb::GetOrderHistoryRequest {
                    order_id: order_id.clone(),
                    consistency: after(stream_last),
                })
                .await
                .unwrap()
                .into_inner();
            sequences.extend(history.entries.iter().map(|e| e.sequence));
            let order = get(&mut c, order_id, stream_last).await;
            let status = if confirmed.contains(&order_id) {
                pb::OrderStatus::Confirmed
            } else {
                pb::OrderStatus::Placed
            };
            assert_eq!(order.status, status as i32, "{label}: {order_id}");
        }
        sequences.sort_unstable();
        assert_eq!(
            sequences,
            (1..=stream_last).collect::<Vec<_>>(),
            "{label}: each event applied exactly once"
        );
        cluster.stop().await;
    }
}
