//! Several replicas of the order service on one broker and one database, as a Deployment's pods
//! behind a load balancer run: every answer is the one a single replica gives, all of them come
//! up when started at once on an empty database, and the projector moves to a survivor.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step should stop it loudly

mod common;

use std::time::Duration;

use common::*;
use rentops_order::projections::NAME as ORDERS_PROJECTION;
use rentops_proto::order as pb;
use rentops_testkit::{Answer, Cluster};

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
    out.push(Answer::of(next().confirm_order(confirm(&o1)).await));
    out.push(Answer::of(
        next()
            .record_contact_attempt(call(&o1, pb::ContactOutcome::NoAnswer, "RQ-1"))
            .await,
    ));
    out.push(Answer::of(next().confirm_order(confirm(&o1)).await));
    out.push(Answer::of(
        next()
            .record_contact_attempt(call(&o1, pb::ContactOutcome::Reached, "RQ-2"))
            .await,
    ));
    // Decided on the state the other replica has just moved on.
    out.push(Answer::of(next().confirm_order(confirm(&o1)).await));
    out.push(Answer::of(next().confirm_order(confirm(&o1)).await));
    // A retry of a request another replica answered is answered as the first time.
    out.push(Answer::of(
        next()
            .record_contact_attempt(call(&o1, pb::ContactOutcome::Reached, "RQ-2"))
            .await,
    ));
    out.push(Answer::of(
        next()
            .record_contact_attempt(call(&o2, pb::ContactOutcome::Reached, "RQ-3"))
            .await,
    ));
    out.push(Answer::of(
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
    out.push(Answer::of(
        next()
            .cancel_order(pb::CancelOrderRequest {
                context: rid(),
                order_id: o2.clone(),
                cancelled_by: pb::CancelledBy::Customer as i32,
                reason: "plans changed".into(),
            })
            .await,
    ));
    out.push(Answer::of(next().confirm_order(confirm(&o2)).await));
    out.push(Answer::of(
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
    out.push(Answer::of(
        next()
            .cancel_order(pb::CancelOrderRequest {
                context: rid(),
                order_id: o1.clone(),
                cancelled_by: pb::CancelledBy::Desk as i32,
                reason: "duplicate booking".into(),
            })
            .await,
    ));
    out.push(Answer::of(next().confirm_order(confirm(&o1)).await));
    out
}

rentops_testkit::per_backend! {
    async fn commands_spread_over_replicas_are_answered_as_one_replica_answers_them(one: TestDatabase, two: TestDatabase) {
        let expected = Cluster::<Replica>::answers_as_one(one, two, 2, async |c: &Cluster<Replica>| desk_day(c).await)
            .await
            .unwrap();
        // The day must hold the answers that matter: refusals and commands that appended.
        assert!(expected.iter().any(|a| a.is_refusal(tonic::Code::FailedPrecondition)));
        assert!(expected.iter().any(|a| a.appended(1)));
    }
}

rentops_testkit::per_backend! {
    async fn replicas_started_at_once_on_an_empty_database_all_come_up(db: TestDatabase) {
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

rentops_testkit::per_backend! {
    async fn the_projector_moves_to_a_survivor_and_the_read_model_ends_equal_to_the_stream(db: TestDatabase) {
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

rentops_testkit::per_backend! {
    async fn a_request_id_reused_for_another_command_is_refused_on_every_replica(db: TestDatabase) {
        let label = db.label();
        let cluster = Cluster::<Replica>::start(db, 2, &[]).await.unwrap();
        let (mut a, mut b) = (cluster.replica(0).client.clone(), cluster.replica(1).client.clone());
        let order = place(&mut a, "REUSED-1").await.order_id;
        let first = a
            .record_contact_attempt(call(&order, pb::ContactOutcome::NoAnswer, "RQ-1"))
            .await
            .unwrap()
            .into_inner();
        // The same request again, with another correlation id: a retry, answered as the first.
        let mut retry = call(&order, pb::ContactOutcome::NoAnswer, "RQ-1");
        retry.context.as_mut().unwrap().correlation_id = "another-try".into();
        for client in [&mut a, &mut b] {
            let again = client.record_contact_attempt(retry.clone()).await.unwrap().into_inner();
            assert_eq!(again, first, "{label}");
        }
        // The same request id saying the customer was reached: refused on both replicas (B has
        // never seen the request: it reads what it asked for from the stream), nothing appended.
        let before = cluster.stream_last_sequence("ORDER").await.unwrap();
        for client in [&mut a, &mut b] {
            let refused = client
                .record_contact_attempt(call(&order, pb::ContactOutcome::Reached, "RQ-1"))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{label}: {refused:?}");
            assert!(
                refused.message().starts_with("context.request_id: "),
                "{label}: {refused:?}"
            );
            assert!(refused.message().contains("RQ-1"), "{label}: {refused:?}");
        }
        assert_eq!(cluster.stream_last_sequence("ORDER").await.unwrap(), before, "{label}");
        let history = a
            .get_order_history(pb::GetOrderHistoryRequest {
                order_id: order.clone(),
                consistency: after(before),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(history.entries.len(), 2, "{label}: placed and one call");
        cluster.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn any_replica_says_where_the_projection_stands_and_only_the_lease_holder_rebuilds(db: TestDatabase) {
        use rentops_proto::admin as apb;
        use tonic_types::StatusExt;
        let label = db.label();
        let cluster = Cluster::<Replica>::start(db, 2, &[]).await.unwrap();
        let holder = cluster
            .lease_holder(ORDERS_PROJECTION, Duration::from_secs(20))
            .await
            .unwrap();
        let other = 1 - holder;
        let (holder_id, other_id) = (
            cluster.instance_id(holder).to_owned(),
            cluster.instance_id(other).to_owned(),
        );
        let mut c = cluster.replica(other).client.clone();
        let placed = place(&mut c, "ADMIN-1").await;
        get(&mut c, &placed.order_id, placed.sequence).await;

        // The replica that does not run the projector answers status from the shared database
        // and the lease bucket.
        let s = cluster.replica(other).projection_status().await;
        assert_eq!(
            (
                s.name.as_str(),
                s.stream.as_str(),
                s.projection_sequence,
                s.stream_sequence,
                s.lag
            ),
            (ORDERS_PROJECTION, "ORDER", placed.sequence, placed.sequence, 0),
            "{label}"
        );
        assert_eq!(
            (
                s.lease_held_here,
                s.lease_holder.as_str(),
                s.replica.as_str(),
                s.rebuilding
            ),
            (false, holder_id.as_str(), other_id.as_str(), false),
            "{label}"
        );
        let listed = cluster
            .replica(other)
            .admin
            .clone()
            .list_projections(apb::ListProjectionsRequest {})
            .await
            .unwrap()
            .into_inner()
            .projections;
        assert_eq!(
            listed,
            std::slice::from_ref(&s),
            "{label}: one projection, as its status says"
        );

        // It refuses a rebuild, naming the replica that can do it, and resets nothing.
        let refused = cluster
            .replica(other)
            .admin
            .clone()
            .rebuild_projection(apb::RebuildProjectionRequest {
                projection: ORDERS_PROJECTION.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{label}: {refused:?}");
        assert!(refused.message().contains(&holder_id), "{label}: {}", refused.message());
        let info = refused.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("NOT_LEASE_HOLDER", "rentops.admin.v1")
        );
        assert_eq!(info.metadata.get("holder"), Some(&holder_id), "{label}");
        assert_eq!(
            cluster.replica(other).projection_status().await.projection_sequence,
            placed.sequence,
            "{label}: nothing was reset"
        );

        // The holder says it holds the lease (as of its last renewal, so wait for that) and
        // rebuilds.
        let mut mine = cluster.replica(holder).projection_status().await;
        for _ in 0..200 {
            if mine.lease_held_here {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            mine = cluster.replica(holder).projection_status().await;
        }
        assert!(mine.lease_held_here, "{label}: {mine:?}");
        assert_eq!(mine.lease_holder, holder_id, "{label}");
        let target = cluster.replica(holder).rebuild_projection().await;
        assert_eq!(target, placed.sequence, "{label}");
        let order = get(&mut c, &placed.order_id, target).await;
        assert_eq!(order.order_id, placed.order_id, "{label}: replayed");

        // Names it does not have are refused as such, on either replica.
        for i in [holder, other] {
            let mut admin = cluster.replica(i).admin.clone();
            let unknown = admin
                .projection_status(apb::ProjectionStatusRequest {
                    projection: "fleet-demand".into(),
                })
                .await
                .unwrap_err();
            assert_eq!(unknown.code(), tonic::Code::NotFound, "{label}");
            assert!(
                unknown.message().contains("fleet-demand") && unknown.message().contains(ORDERS_PROJECTION),
                "{label}: {}",
                unknown.message()
            );
            let unknown = admin
                .rebuild_projection(apb::RebuildProjectionRequest {
                    projection: "orders".into(),
                })
                .await
                .unwrap_err();
            assert_eq!(unknown.code(), tonic::Code::NotFound, "{label}");
            let unnamed = admin
                .rebuild_projection(apb::RebuildProjectionRequest::default())
                .await
                .unwrap_err();
            assert_eq!(unnamed.code(), tonic::Code::InvalidArgument, "{label}");
        }
        cluster.stop().await;
    }
}
