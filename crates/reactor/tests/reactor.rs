//! The event reactor against a real nats-server: every event handled, one that cannot be
//! handled yet delivered again, one that never can acknowledged and left, and two replicas on
//! one durable consumer sharing the work without doing any of it twice.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step should stop it loudly

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use rentops_eventstore::{EventMeta, RecordedEvent, StreamSettings, ensure_stream};
use rentops_reactor::{Backoff, Progress, React, Reaction, Subscription, run_reactor};
use rentops_testkit::NatsServer;
use tokio_util::sync::CancellationToken;

/// Records what it saw; refuses an aggregate's first delivery when told to, and skips others.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<(String, u64)>>>,
    retry_once: Option<String>,
    skip: Option<String>,
}

impl React for Recorder {
    fn name(&self) -> &str {
        "test-recorder"
    }

    async fn handle(&self, event: &RecordedEvent) -> Reaction {
        let id = event.meta.aggregate_id.clone();
        let mut seen = self.seen.lock().unwrap();
        let before = seen.iter().filter(|(a, _)| *a == id).count();
        seen.push((id.clone(), event.sequence));
        if self.retry_once.as_deref() == Some(id.as_str()) && before == 0 {
            return Reaction::Retry("not yet".into());
        }
        if self.skip.as_deref() == Some(id.as_str()) {
            return Reaction::Skipped("unknown here".into());
        }
        Reaction::Done
    }
}

async fn publish(js: &jetstream::Context, aggregate: &str) -> u64 {
    let meta = EventMeta {
        event_id: uuid::Uuid::now_v7(),
        event_type: "rentops.source.v1.Happened".into(),
        source: "source".into(),
        aggregate_id: aggregate.into(),
        time: time::OffsetDateTime::now_utc(),
        correlation_id: aggregate.into(),
        causation_id: aggregate.into(),
        actor: "test".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let mut headers = HeaderMap::new();
    meta.write_headers(&mut headers);
    js.publish_with_headers(
        format!("rentops.source.thing.{aggregate}.Happened"),
        headers,
        bytes::Bytes::new(),
    )
    .await
    .unwrap()
    .await
    .unwrap()
    .sequence
}

fn subscription() -> Subscription {
    let mut s = Subscription::new("SOURCE", "test-reactor", &["rentops.source.>"]);
    // Short waits, so a redelivery comes quickly (the test waits on progress, not on time).
    s.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(100));
    s.max_ack_pending = 100;
    s
}

#[tokio::test]
async fn every_event_is_handled_a_retried_one_again_and_a_foreign_message_is_skipped() {
    let nats = NatsServer::start().await.unwrap();
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let recorder = Recorder {
        retry_once: Some("a2".into()),
        skip: Some("a3".into()),
        ..Default::default()
    };
    let (progress, watch) = Progress::new();
    let shutdown = CancellationToken::new();
    // Started before the stream exists: it waits for it.
    let task = tokio::spawn(run_reactor(
        js.clone(),
        subscription(),
        recorder.clone(),
        progress,
        shutdown.clone(),
    ));
    ensure_stream(&js, &StreamSettings::for_service("source", 1))
        .await
        .unwrap();
    let mut last = 0;
    for a in ["a1", "a2", "a3", "a4"] {
        last = publish(&js, a).await;
    }
    // Not a rentops event at all: no envelope.
    let foreign = js
        .publish("rentops.source.thing.x.Raw", "hello".into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence;
    watch.handled(foreign.max(last), Duration::from_secs(20)).await.unwrap();
    let seen = recorder.seen.lock().unwrap().clone();
    let count = |a: &str| seen.iter().filter(|(id, _)| id == a).count();
    assert_eq!(
        (count("a1"), count("a2"), count("a3"), count("a4")),
        (1, 2, 1, 1),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|(id, _)| id != "x"),
        "the foreign message never reached the handler"
    );
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn two_replicas_on_one_durable_consumer_handle_each_event_once() {
    let nats = NatsServer::start().await.unwrap();
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    ensure_stream(&js, &StreamSettings::for_service("source", 1))
        .await
        .unwrap();
    let recorder = Recorder::default();
    let shutdown = CancellationToken::new();
    let mut watches = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (progress, watch) = Progress::new();
        watches.push(watch);
        tasks.push(tokio::spawn(run_reactor(
            js.clone(),
            subscription(),
            recorder.clone(),
            progress,
            shutdown.clone(),
        )));
    }
    let mut last = 0;
    for i in 0..200 {
        last = publish(&js, &format!("b{i}")).await;
    }
    // Each replica reports what it handled; together they reach the end.
    tokio::time::timeout(Duration::from_secs(20), async {
        while watches.iter().map(|w| w.current().sequence).max().unwrap_or(0) < last
            || recorder.seen.lock().unwrap().len() < 200
        {
            let wait: Vec<_> = watches
                .iter()
                .map(|w| Box::pin(w.handled(last, Duration::from_secs(20))))
                .collect();
            let _ = futures::future::select_all(wait).await;
        }
    })
    .await
    .unwrap();
    let mut seen: Vec<u64> = recorder.seen.lock().unwrap().iter().map(|(_, s)| *s).collect();
    seen.sort_unstable();
    let unique: std::collections::BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(seen.len(), 200, "each event handled once");
    assert_eq!(unique.len(), 200);
    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
}
