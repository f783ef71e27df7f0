#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly
//! Measures (never asserts) what reading one aggregate costs as the stream grows, for an aggregate
//! the replica has not cached (after a restart or a failover):
//!
//! - `load`: all of its events (`EventStore::load`, an ordered consumer on its subjects), what
//!   a cold command pays first;
//! - `last_sequence`: its last stream sequence (`EventStore::last_sequence`, one message from
//!   the stream leader), what a refusal or a no-op decided on cached state pays to be checked.
//!
//! The stream is filled as traffic fills it: aggregates of `EVENTS_PER` events each, a window of
//! `ACTIVE` of them open at once, their events interleaved, so one aggregate's events lie spread
//! over thousands of sequences. At each size the same old aggregates (from the first tenth of the
//! stream) and new ones (the last tenth) are read, in random order.
//!
//! Run: `cargo bench -p rentops-eventstore --bench cold_load` (needs deploy/local/install-nats.sh).
//! `SIZES=20000,100000,1000000` (the default), `SAMPLES=300`, `EVENTS_PER=5`, `ACTIVE=1000`.

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt;
use rentops_eventstore::{EventMeta, EventStore, StreamSettings, connect, ensure_stream};
use rentops_testkit::NatsServer;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// A small deterministic generator (xorshift), so every run reads the same aggregates.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn aggregate_id(n: usize) -> String {
    format!("agg-{n:08}")
}

/// Appends events `from..to` of the traffic pattern, acknowledgements pipelined.
async fn fill(js: &jetstream::Context, from: usize, to: usize, events_per: usize, active: usize) {
    let wave = events_per * active;
    let mut acks = futures::stream::FuturesUnordered::new();
    for position in from..to {
        // Within a wave, `active` aggregates receive their events round robin.
        let aggregate = (position / wave) * active + position % active;
        let id = aggregate_id(aggregate);
        let meta = EventMeta {
            event_id: uuid::Uuid::now_v7(),
            event_type: "rentops.bench.v1.Happened".into(),
            source: "bench".into(),
            aggregate_id: id.clone(),
            time: time::OffsetDateTime::now_utc(),
            correlation_id: id.clone(),
            causation_id: id.clone(),
            actor: "bench".into(),
            request_id: format!("r-{position}"),
        };
        let mut headers = HeaderMap::new();
        meta.write_headers(&mut headers);
        let ack = js
            .publish_with_headers(
                format!("rentops.bench.thing.{id}.Happened"),
                headers,
                Bytes::from_static(b"\x08\x01\x12\x04data"),
            )
            .await
            .unwrap();
        acks.push(ack.into_future());
        if acks.len() >= 512 {
            acks.next().await.unwrap().unwrap();
        }
    }
    while let Some(ack) = acks.next().await {
        ack.unwrap();
    }
}

#[tokio::main]
async fn main() {
    rentops_testkit::init_tracing();
    let sizes: Vec<usize> = std::env::var("SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![20_000, 100_000, 1_000_000]);
    let samples = env_usize("SAMPLES", 300);
    let events_per = env_usize("EVENTS_PER", 5);
    let active = env_usize("ACTIVE", 1000);
    let nats = NatsServer::start()
        .await
        .expect("nats-server (run deploy/local/install-nats.sh)");
    let client = connect(&nats.url(), "cold-load-bench").await.unwrap();
    let settings = StreamSettings::for_service("bench", 1);
    ensure_stream(&jetstream::new(client.clone()), &settings).await.unwrap();
    let store = EventStore::new(client.clone(), &settings.name, "bench");
    let js = jetstream::new(client);
    println!("cold aggregate reads: {events_per} events per aggregate, {active} open at once, {samples} reads per row");
    let mut filled = 0;
    for size in sizes {
        let started = Instant::now();
        fill(&js, filled, size, events_per, active).await;
        println!(
            "stream filled to {size} events ({:.0} appends/s)",
            (size - filled) as f64 / started.elapsed().as_secs_f64()
        );
        filled = size;
        // Aggregates of finished waves have all their events.
        let complete = (size / (events_per * active)) * active;
        assert!(complete > 0, "SIZES must be at least EVENTS_PER x ACTIVE");
        let tenth = (complete / 10).max(1);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for (label, lo, hi) in [("old", 0, tenth), ("new", complete - tenth, complete)] {
            let mut loads = Vec::with_capacity(samples);
            let mut lasts = Vec::with_capacity(samples);
            for _ in 0..samples {
                let id = aggregate_id(lo + rng.below(hi - lo));
                let t = Instant::now();
                let events = store.load("thing", &id).await.unwrap();
                loads.push(t.elapsed());
                assert_eq!(events.len(), events_per, "{id}");
                let t = Instant::now();
                let last = store.last_sequence("thing", &id).await.unwrap();
                lasts.push(t.elapsed());
                assert_eq!(last, events[events_per - 1].sequence, "{id}");
            }
            loads.sort();
            lasts.sort();
            println!(
                "  {size:>9} events, {label} aggregates: load p50 {:>7.3} ms p99 {:>7.3} ms   last_sequence p50 {:>6.3} ms p99 {:>6.3} ms",
                pct(&loads, 0.5),
                pct(&loads, 0.99),
                pct(&lasts, 0.5),
                pct(&lasts, 0.99)
            );
        }
    }
}
