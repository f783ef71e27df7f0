//! Time-driven steps of the confirmation rule, on a moved clock: a call-back the customer asked
//! for is owed at the promised time, and missing it is marked overdue, once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use rentops_proto::order as pb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_runtime::{Clock as _, ManualClock};
use rentops_testkit::NatsServer;

rentops_testkit::per_backend! {
    async fn a_missed_call_back_is_marked_overdue_once(db: TestDatabase) {
        rentops_testkit::init_tracing();
        let label = db.label();
        let nats = NatsServer::start().await.unwrap();
        let clock = ManualClock::at(time::OffsetDateTime::now_utc());
        let vars = vec![
            ("RENTOPS_NATS_URL".to_owned(), nats.url()),
            ("RENTOPS_DATABASE_URL".to_owned(), db.url().to_owned()),
            ("RENTOPS_ORDER_DEADLINE_SCAN_SECS".to_owned(), "1".to_owned()),
        ];
        let service = rentops_testkit::start_in_process(rentops_order::app::start, clock.clone(), vars)
            .await
            .unwrap();
        let mut c = OrderServiceClient::connect(service.url.clone()).await.unwrap();
        let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        // Read-your-writes for whatever the scan appended: the stream's last sequence.
        let appended = || {
            let js = js.clone();
            async move { after(js.get_stream("ORDER").await.unwrap().info().await.unwrap().state.last_sequence) }
        };

        let placed = place(&mut c, "CB-1").await;
        // Called within the first half hour: the customer asks to be called back in an hour.
        clock.advance(time::Duration::minutes(20));
        let promised = clock.now() + time::Duration::hours(1);
        c.record_contact_attempt(pb::RecordContactAttemptRequest {
            context: rid(),
            order_id: placed.order_id.clone(),
            outcome: pb::ContactOutcome::CallBackLater as i32,
            notes: "after lunch".into(),
            call_back_at: Some(ts(promised)),
            attempted_at: None,
        })
        .await
        .unwrap();

        // Nothing is overdue before the promised time, though the first call's 2 h have passed.
        clock.advance(time::Duration::minutes(50));
        let scans = &service.app.deadline_scan;
        scans.next_full_pass(Duration::from_secs(20)).await.unwrap();
        let queue = |c: &mut OrderServiceClient<_>| {
            let mut c = c.clone();
            let appended = appended();
            async move {
                c.list_confirmation_queue(pb::ListConfirmationQueueRequest {
                    overdue_only: true,
                    consistency: appended.await,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .entries
            }
        };
        assert!(queue(&mut c).await.is_empty(), "{label}: not due yet");

        // Past it, unanswered: overdue, once, however many passes run.
        clock.advance(time::Duration::minutes(15));
        for _ in 0..3 {
            scans.next_full_pass(Duration::from_secs(20)).await.unwrap();
        }
        let history = c
            .get_order_history(pb::GetOrderHistoryRequest {
                order_id: placed.order_id.clone(),
                consistency: appended().await,
            })
            .await
            .unwrap()
            .into_inner();
        let marks: Vec<_> = history
            .entries
            .iter()
            .filter(|e| e.event_type == "ContactOverdue")
            .collect();
        assert_eq!(marks.len(), 1, "{label}: {:?}", history.entries);
        let Some(pb::order_event::Event::ContactOverdue(mark)) = marks[0].event.as_ref().and_then(|e| e.event.clone())
        else {
            panic!("{label}: not a ContactOverdue: {:?}", marks[0]);
        };
        assert_eq!(mark.contact_due_at, Some(ts(promised)), "{label}: the promised time is the deadline");
        let overdue = queue(&mut c).await;
        assert_eq!(overdue.len(), 1, "{label}");
        assert_eq!(overdue[0].order_id, placed.order_id);
        service.stop().await;
    }
}

rentops_testkit::per_backend! {
    /// Given an order nobody reached, a reached one not yet confirmed, both picking up tomorrow,
    /// and one picking up in three days; when the clock passes the first two's pickup time: the
    /// unreached order has lapsed (out of the queue, in the lapsed list, and the scan no longer
    /// marks it overdue, though its first call was due), and the desk closes it as a no-show.
    async fn an_order_whose_pickup_passed_unreached_leaves_the_queue_for_the_lapsed_list(db: TestDatabase) {
        rentops_testkit::init_tracing();
        let label = db.label();
        let nats = NatsServer::start().await.unwrap();
        let start = time::OffsetDateTime::now_utc();
        let clock = ManualClock::at(start);
        let vars = vec![
            ("RENTOPS_NATS_URL".to_owned(), nats.url()),
            ("RENTOPS_DATABASE_URL".to_owned(), db.url().to_owned()),
            ("RENTOPS_ORDER_DEADLINE_SCAN_SECS".to_owned(), "1".to_owned()),
        ];
        let service = rentops_testkit::start_in_process(rentops_order::app::start, clock.clone(), vars)
            .await
            .unwrap();
        let mut c = OrderServiceClient::connect(service.url.clone()).await.unwrap();
        let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let appended = || {
            let js = js.clone();
            async move { after(js.get_stream("ORDER").await.unwrap().info().await.unwrap().state.last_sequence) }
        };
        // Tomorrow (25 h away: the first call is due 2 h after placement, not at once).
        let tomorrow = |reference: &str| pb::PlaceOrderRequest {
            pickup_at: Some(ts(start + time::Duration::hours(25))),
            return_at: Some(ts(start + time::Duration::hours(49))),
            ..place_request(reference)
        };
        let lapsing = c.place_order(tomorrow("LAPSE-1")).await.unwrap().into_inner().order_id;
        let reached = c.place_order(tomorrow("REACHED-1")).await.unwrap().into_inner().order_id;
        c.record_contact_attempt(pb::RecordContactAttemptRequest {
            context: rid(),
            order_id: reached.clone(),
            outcome: pb::ContactOutcome::Reached as i32,
            notes: "will confirm by app".into(),
            call_back_at: None,
            attempted_at: None,
        })
        .await
        .unwrap();
        let later = place(&mut c, "LATER-1").await.order_id;
        let queue = |c: &mut OrderServiceClient<_>| {
            let mut c = c.clone();
            let appended = appended();
            async move {
                let entries = c
                    .list_confirmation_queue(pb::ListConfirmationQueueRequest {
                        consistency: appended.await,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .entries;
                let mut ids: Vec<String> = entries.into_iter().map(|e| e.order_id).collect();
                ids.sort();
                ids
            }
        };
        let lapsed = |c: &mut OrderServiceClient<_>| {
            let mut c = c.clone();
            let appended = appended();
            async move {
                c.list_lapsed_orders(pb::ListLapsedOrdersRequest {
                    consistency: appended.await,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .entries
            }
        };
        let mut all = vec![lapsing.clone(), reached.clone(), later.clone()];
        all.sort();
        assert_eq!(queue(&mut c).await, all, "{label}: all three wait for a call");
        assert!(lapsed(&mut c).await.is_empty(), "{label}: nothing has lapsed yet");

        // A day and two hours on: every first call is overdue, and LAPSE-1's pickup has passed.
        clock.set(start + time::Duration::hours(26));
        service.app.deadline_scan.next_full_pass(Duration::from_secs(20)).await.unwrap();
        let overdue_marks = |order_id: String| {
            let mut c = c.clone();
            let appended = appended();
            async move {
                c.get_order_history(pb::GetOrderHistoryRequest {
                    order_id,
                    consistency: appended.await,
                })
                .await
                .unwrap()
                .into_inner()
                .entries
                .iter()
                .filter(|e| e.event_type == "ContactOverdue")
                .count()
            }
        };
        assert_eq!(overdue_marks(later.clone()).await, 1, "{label}: the scan marks what is owed");
        assert_eq!(overdue_marks(lapsing.clone()).await, 0, "{label}: a lapsed order is not marked");
        let mut waiting = vec![reached.clone(), later.clone()];
        waiting.sort();
        assert_eq!(queue(&mut c).await, waiting, "{label}: the lapsed order left the queue");
        let gone = lapsed(&mut c).await;
        assert_eq!(
            gone.iter().map(|e| e.order_id.as_str()).collect::<Vec<_>>(),
            [lapsing.as_str()],
            "{label}: only the unreached one lapsed"
        );
        assert!(!gone[0].reached && !gone[0].overdue, "{label}: {:?}", gone[0]);

        // The desk closes it: a no-show, and the list is empty.
        let closed = c
            .mark_no_show(pb::MarkNoShowRequest {
                context: rid(),
                order_id: lapsing.clone(),
                notes: "never reached".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .sequence;
        assert!(lapsed(&mut c).await.is_empty(), "{label}: closed");
        assert_eq!(get(&mut c, &lapsing, closed).await.status, pb::OrderStatus::NoShow as i32, "{label}");
        service.stop().await;
    }
}
