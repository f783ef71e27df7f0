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
