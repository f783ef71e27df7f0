#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly
//! Measures (never asserts) what reading one aggregate costs as the stream grows, for an aggregate
//! the replica has not cached (after a restart or a failover):
//!
//! - `consumer`: all of its events through an ordered consumer filtered on its subjects, created
//!   and deleted per load (how `EventStore::load` read before ADR 0013), for comparison;
//! - `load`: all of its events as `EventStore::load` reads them now: batched direct gets by
//!   subject, with the leader's last sequence asked at the same time;
//! - `last_sequence`: its last stream sequence (`EventStore::last_sequence`, one message from
//!   the stream leader), what a refusal or a no-op decided on cached state pays to be checked;
//! - at the largest size, a long-lived aggregate with `LONG` events of its own spread over the
//!   stream: `consumer`, `load`, and `snapshot + N`, the command handler's cold load from a
//!   snapshot taken N events before its last one (state decoded, the N events read and folded;
//!   with a snapshot every `snapshot_every` events (10 by default), N stays below it).
//!
//! The stream is filled as traffic fills it: aggregates of `EVENTS_PER` events each, a window of
//! `ACTIVE` of them open at once, their events interleaved, so one aggregate's events lie spread
//! over thousands of sequences. At each size the same old aggregates (from the first tenth of the
//! stream) and new ones (the last tenth) are read, in random order.
//!
//! Run: `cargo bench -p rentops-eventstore --bench cold_load` (needs deploy/local/install-nats.sh).
//! `SIZES=1000,100000,1000000` (the default), `SAMPLES=300`, `EVENTS_PER=5`, `ACTIVE=200`,
//! `LONG=10000`, `TAILS=0,9,99`. `QUICK=1`: sizes 1,000 and 20,000, 50 samples, a long aggregate of
//! 1,000 events — a minute, for a check that it all still runs.

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::StreamExt;
use rentops_eventstore::{
    CommandHandler, EventMeta, EventStore, HandlerConfig, SnapshotRecord, StreamSettings, connect,
    ensure_snapshot_bucket, ensure_stream,
};
use rentops_kernel::{Aggregate, DecodeError, EventCodec, Snapshot, SnapshotError, SnapshotFormat};
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

fn summary(label: &str, mut times: Vec<Duration>) -> String {
    times.sort();
    format!(
        "{label} p50 {:>7.3} ms p99 {:>7.3} ms",
        pct(&times, 0.5),
        pct(&times, 0.99)
    )
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

const LONG_ID: &str = "long-lived";

/// The benchmark's aggregate: it counts its events, and opts into snapshots.
struct Thing;

#[derive(Debug, Clone, Default, PartialEq)]
struct ThingState {
    count: u64,
}

#[derive(Debug)]
struct Happened;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Thing {
    const TYPE: &'static str = "thing";
    type State = ThingState;
    type Command = ();
    type Event = Happened;
    type Error = Never;
    const SNAPSHOT: Option<SnapshotFormat<ThingState>> = Some(SnapshotFormat::of::<Thing>());

    fn decide(_: &ThingState, _: &()) -> Result<Vec<Happened>, Never> {
        Ok(vec![Happened])
    }

    fn evolve(state: ThingState, _: &Happened) -> ThingState {
        ThingState { count: state.count + 1 }
    }
}

impl EventCodec for Thing {
    type Event = Happened;

    fn name(_: &Happened) -> &'static str {
        "Happened"
    }

    fn encode(_: &Happened) -> Vec<u8> {
        b"\x08\x01\x12\x04data".to_vec()
    }

    fn decode(name: &str, _: &[u8]) -> Result<Happened, DecodeError> {
        match name {
            "Happened" => Ok(Happened),
            _ => Err(DecodeError::unknown(name)),
        }
    }
}

impl Snapshot for Thing {
    const VERSION: u32 = 1;

    fn encode_state(state: &ThingState) -> Result<Vec<u8>, SnapshotError> {
        Ok(state.count.to_be_bytes().to_vec())
    }

    fn decode_state(bytes: &[u8]) -> Result<ThingState, SnapshotError> {
        let count: [u8; 8] = bytes.try_into().map_err(|_| SnapshotError::new("not 8 bytes"))?;
        Ok(ThingState {
            count: u64::from_be_bytes(count),
        })
    }
}

/// Publishes one event of aggregate `id` (acknowledgement left to the caller).
async fn publish(js: &jetstream::Context, id: &str, request: String) -> jetstream::context::PublishAckFuture {
    let meta = EventMeta {
        event_id: uuid::Uuid::now_v7(),
        event_type: "rentops.bench.v1.Happened".into(),
        source: "bench".into(),
        aggregate_id: id.to_owned(),
        time: time::OffsetDateTime::now_utc(),
        correlation_id: id.to_owned(),
        causation_id: id.to_owned(),
        actor: "bench".into(),
        request_id: request,
    };
    let mut headers = HeaderMap::new();
    meta.write_headers(&mut headers);
    js.publish_with_headers(
        format!("rentops.bench.thing.{id}.Happened"),
        headers,
        Bytes::from_static(b"\x08\x01\x12\x04data"),
    )
    .await
    .unwrap()
}

/// Appends events `from..to` of the stream, acknowledgements pipelined: every `long_every`-th
/// one is the long-lived aggregate's, the others continue the traffic pattern, whose position
/// `traffic` counts.
async fn fill(
    js: &jetstream::Context,
    (from, to): (usize, usize),
    traffic: &mut usize,
    events_per: usize,
    active: usize,
    long_every: usize,
) {
    let wave = events_per * active;
    let mut acks = futures::stream::FuturesUnordered::new();
    for position in from..to {
        let ack = if long_every > 0 && position % long_every == 0 {
            publish(js, LONG_ID, format!("l-{position}")).await
        } else {
            // Within a wave, `active` aggregates receive their events round robin.
            let t = *traffic;
            *traffic += 1;
            let aggregate = (t / wave) * active + t % active;
            publish(js, &aggregate_id(aggregate), format!("r-{t}")).await
        };
        acks.push(ack.into_future());
        if acks.len() >= 512 {
            acks.next().await.unwrap().unwrap();
        }
    }
    while let Some(ack) = acks.next().await {
        ack.unwrap();
    }
}

/// Reads an aggregate's events the way the log did before ADR 0013: an ordered consumer on its
/// subjects, deleted afterwards. Returns how many it read.
async fn consumer_load(js: &jetstream::Context, stream: &str, filter: String) -> usize {
    let stream = js.get_stream_no_info(stream).await.unwrap();
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let name = consumer.cached_info().name.clone();
    let pending = consumer.cached_info().num_pending as usize;
    let mut read = 0;
    if pending > 0 {
        let mut messages = consumer.messages().await.unwrap();
        while read < pending {
            let message = messages.next().await.unwrap().unwrap();
            let _ = message.info().unwrap().stream_sequence;
            read += 1;
        }
    }
    // Off the measured path, as the old load did it.
    tokio::spawn(async move { stream.delete_consumer(&name).await.ok() });
    read
}

#[tokio::main]
async fn main() {
    rentops_testkit::init_tracing();
    let quick = std::env::var("QUICK").is_ok_and(|v| v != "0");
    let sizes: Vec<usize> = std::env::var("SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            if quick {
                vec![1_000, 20_000]
            } else {
                vec![1_000, 100_000, 1_000_000]
            }
        });
    let samples = env_usize("SAMPLES", if quick { 50 } else { 300 });
    let events_per = env_usize("EVENTS_PER", 5);
    let active = env_usize("ACTIVE", 200);
    let long = env_usize("LONG", if quick { 1_000 } else { 10_000 });
    let tails: Vec<usize> = std::env::var("TAILS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 9, 99]);
    let nats = NatsServer::start()
        .await
        .expect("nats-server (run deploy/local/install-nats.sh)");
    let client = connect(&nats.url(), "cold-load-bench").await.unwrap();
    let settings = StreamSettings::for_service("bench", 1);
    let js = jetstream::new(client.clone());
    ensure_stream(&js, &settings).await.unwrap();
    let bucket = ensure_snapshot_bucket(&js, &settings).await.unwrap();
    let store = EventStore::new(client.clone(), &settings.name, "bench").with_snapshots(bucket);
    println!("cold aggregate reads: {events_per} events per aggregate, {active} open at once, {samples} reads per row");
    let mut filled = 0;
    let mut traffic = 0;
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for size in sizes {
        let started = Instant::now();
        // The long-lived aggregate's events are spread over the growth to the largest size.
        let long_every = if size == largest && size > filled {
            ((size - filled) / long).max(1)
        } else {
            0
        };
        fill(&js, (filled, size), &mut traffic, events_per, active, long_every).await;
        println!(
            "stream filled to {size} events ({:.0} appends/s)",
            (size - filled) as f64 / started.elapsed().as_secs_f64()
        );
        filled = size;
        // Aggregates of finished waves have all their events.
        let complete = (traffic / (events_per * active)) * active;
        assert!(complete > 0, "SIZES must be at least EVENTS_PER x ACTIVE");
        let tenth = (complete / 10).max(1);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for (label, lo, hi) in [("old", 0, tenth), ("new", complete - tenth, complete)] {
            let mut consumers = Vec::with_capacity(samples);
            let mut loads = Vec::with_capacity(samples);
            let mut lasts = Vec::with_capacity(samples);
            for _ in 0..samples {
                let id = aggregate_id(lo + rng.below(hi - lo));
                let t = Instant::now();
                let read = consumer_load(&js, &settings.name, store.aggregate_filter("thing", &id)).await;
                consumers.push(t.elapsed());
                assert_eq!(read, events_per, "{id}");
                let t = Instant::now();
                let events = store.load("thing", &id).await.unwrap();
                loads.push(t.elapsed());
                assert_eq!(events.len(), events_per, "{id}");
                let t = Instant::now();
                let last = store.last_sequence("thing", &id).await.unwrap();
                lasts.push(t.elapsed());
                assert_eq!(last, events[events_per - 1].sequence, "{id}");
            }
            println!(
                "  {size:>9} events, {label} aggregates ({events_per} events): {}   {}   {}",
                summary("consumer", consumers),
                summary("load", loads),
                summary("last_sequence", lasts),
            );
        }
        if long_every == 0 {
            continue;
        }
        let long_samples = samples.min(20);
        let mut consumers = Vec::with_capacity(long_samples);
        let mut loads = Vec::with_capacity(long_samples);
        let events = store.load("thing", LONG_ID).await.unwrap();
        let own = events.len();
        for _ in 0..long_samples {
            let t = Instant::now();
            let read = consumer_load(&js, &settings.name, store.aggregate_filter("thing", LONG_ID)).await;
            consumers.push(t.elapsed());
            assert_eq!(read, own);
            let t = Instant::now();
            let events = store.load("thing", LONG_ID).await.unwrap();
            loads.push(t.elapsed());
            assert_eq!(events.len(), own);
        }
        // Snapshots as the handler writes them, taken `tail` events before the end: those events
        // are then read after it, spread over the stream as the aggregate's events are.
        let reader = CommandHandler::<Thing>::new(
            store.clone(),
            HandlerConfig {
                snapshot_every: 0,
                ..HandlerConfig::default()
            },
        );
        let mut rows = Vec::new();
        for &tail in &tails {
            let Some(at) = own.checked_sub(tail + 1) else { continue };
            let record = SnapshotRecord {
                aggregate_type: "thing".into(),
                aggregate_id: LONG_ID.into(),
                format: Thing::VERSION,
                sequence: events[at].sequence,
                requests: vec![],
                state: Thing::encode_state(&ThingState { count: at as u64 + 1 })
                    .unwrap()
                    .into(),
            };
            store.write_snapshot(&record).await.unwrap();
            let mut times = Vec::with_capacity(samples);
            for _ in 0..samples {
                reader.invalidate(LONG_ID);
                let t = Instant::now();
                let (state, _) = reader.state(LONG_ID).await.unwrap();
                times.push(t.elapsed());
                assert_eq!(state.count, own as u64);
            }
            rows.push(summary(&format!("snapshot + {tail}"), times));
        }
        println!(
            "  {size:>9} events, a long-lived aggregate ({own} events): {}   {}",
            summary("consumer", consumers),
            summary("load", loads),
        );
        println!("      from a snapshot and the events after it: {}", rows.join("   "));
    }
}
