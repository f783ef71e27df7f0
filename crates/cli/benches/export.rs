#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly
//! Measures (never asserts) `rentops events export` against a raw replay of the same stream, on
//! one nats-server, in one run:
//!
//! - `EVENTS` order events (default 1,000,000: `OrderPlaced` bodies as the order service encodes
//!   them, with the full envelope the event store writes) appended to a stream `ORDER`;
//! - raw replay: an ordered consumer reading every message to the last one, nothing decoded;
//! - `rentops events export --service order` to JSON lines and to Parquet (the binary, as a user
//!   runs it: connect, decode every body by its type, write the file).
//!
//! `RUNS` rounds (default 3), each round replay → JSON lines → Parquet back to back; prints each
//! figure's median in events/s and the ratio of each export to the raw replay of its own round
//! (median of the rounds' ratios). Then replay safety: a service's appends (concurrency 32) for
//! `APPEND_SECS` (5) alone against beside an analyst's reader that stopped reading, alone
//! against while an export runs, and alone against while an export held to one formatter thread
//! (`--threads 1`) runs, in alternating pairs.
//!
//! Run: `cargo bench -p rentops-cli --bench export` (needs deploy/local/install-nats.sh, like the
//! tests; `RENTOPS_NATS_SERVER` names the binary).

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull::OrderedConfig};
use futures::StreamExt as _;
use prost::Message as _;
use rentops_eventstore::{EventMeta, StreamSettings};
use rentops_proto::common::Money;
use rentops_proto::order as opb;
use rentops_proto::timestamp::to_timestamp;
use rentops_testkit::NatsServer;
use time::OffsetDateTime;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One `OrderPlaced` as the order service writes it: subject, envelope headers, body.
fn order_placed(i: usize, now: OffsetDateTime) -> (String, HeaderMap, bytes::Bytes) {
    {
        let order_id = uuid::Uuid::now_v7().to_string();
        let body = opb::OrderPlaced {
            order_id: order_id.clone(),
            channel: opb::Channel::App as i32,
            channel_order_ref: format!("APP-{i:08}"),
            customer: Some(opb::Customer {
                customer_id: format!("C{:06}", i % 100_000),
                name: "王小明".into(),
                phone: "13800138000".into(),
            }),
            city: "SHA".into(),
            pickup_location: Some(opb::Location {
                place: Some(opb::location::Place::StationId("PVG".into())),
            }),
            pickup_at: Some(to_timestamp(now + time::Duration::days(3))),
            return_location: Some(opb::Location {
                place: Some(opb::location::Place::StationId("PVG".into())),
            }),
            return_at: Some(to_timestamp(now + time::Duration::days(5))),
            requested_model: 1,
            add_ons: vec!["child-seat".into()],
            price: Some(Money {
                amount_fen: 45_000,
                currency: "CNY".into(),
            }),
            placed_at: Some(to_timestamp(now)),
            contact_due_at: Some(to_timestamp(now + time::Duration::hours(2))),
            ..Default::default()
        };
        let meta = EventMeta {
            event_id: uuid::Uuid::now_v7(),
            event_type: "rentops.order.v1.OrderPlaced".into(),
            source: "order".into(),
            aggregate_id: order_id.clone(),
            time: now,
            correlation_id: uuid::Uuid::new_v4().to_string(),
            causation_id: uuid::Uuid::new_v4().to_string(),
            actor: "bench".into(),
            request_id: uuid::Uuid::new_v4().to_string(),
        }
        // As the event store appends it: no `ce-id`, the reader derives the id.
        .with_derived_id(0);
        let mut headers = HeaderMap::new();
        meta.write_headers(&mut headers);
        let subject = format!("rentops.order.order.{order_id}.OrderPlaced");
        (subject, headers, body.encode_to_vec().into())
    }
}

async fn fill(js: &jetstream::Context, events: usize) -> Duration {
    let started = Instant::now();
    let now = OffsetDateTime::now_utc();
    let mut acks = futures::stream::FuturesUnordered::new();
    for i in 0..events {
        let (subject, headers, body) = order_placed(i, now);
        let ack = js.publish_with_headers(subject, headers, body).await.unwrap();
        acks.push(ack.into_future());
        while acks.len() >= 512 {
            acks.next().await.unwrap().unwrap();
        }
    }
    while let Some(ack) = acks.next().await {
        ack.unwrap();
    }
    started.elapsed()
}

/// A service's appends for `secs`: acknowledged appends per second, 32 in flight at a time.
async fn append_rate(js: &jetstream::Context, secs: u64) -> f64 {
    let started = Instant::now();
    let now = OffsetDateTime::now_utc();
    let mut acks = futures::stream::FuturesUnordered::new();
    let (mut i, mut done) = (0usize, 0u64);
    while started.elapsed() < Duration::from_secs(secs) {
        while acks.len() < 32 {
            let (subject, headers, body) = order_placed(i, now);
            i += 1;
            let ack = js.publish_with_headers(subject, headers, body).await.unwrap();
            acks.push(ack.into_future());
        }
        acks.next().await.unwrap().unwrap();
        done += 1;
    }
    while let Some(ack) = acks.next().await {
        ack.unwrap();
        done += 1;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// Every message of the stream through an ordered consumer, nothing decoded.
async fn raw_replay(js: &jetstream::Context, last: u64) -> Duration {
    let started = Instant::now();
    let stream = js.get_stream("ORDER").await.unwrap();
    let consumer = stream.create_consumer(OrderedConfig::default()).await.unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut bytes = 0usize;
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        bytes += message.payload.len();
        if message.info().unwrap().stream_sequence >= last {
            break;
        }
    }
    assert!(bytes > 0);
    started.elapsed()
}

/// `rentops events export` of the whole stream to `out` in `format`, with `extra` flags.
async fn export(url: &str, out: &std::path::Path, format: &str, events: usize, extra: &[&str]) -> Duration {
    let _ = std::fs::remove_file(out);
    let started = Instant::now();
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_rentops"))
        .args([
            "events",
            "export",
            "--service",
            "order",
            "--quiet",
            "--format",
            format,
            "--out",
        ])
        .arg(out)
        .args(extra)
        .env("RENTOPS_NATS_URL", url)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(status.success(), "rentops events export failed");
    if format == "jsonl" && events > 0 {
        let lines = std::fs::read_to_string(out).unwrap().lines().count();
        assert_eq!(lines, events, "the export wrote every event");
    }
    took
}

#[tokio::main]
async fn main() {
    let events = env_usize("EVENTS", 1_000_000);
    let runs = env_usize("RUNS", 3).max(1);
    let nats = NatsServer::start().await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    let settings = StreamSettings::for_service("order", 1);
    rentops_eventstore::ensure_stream(&js, &settings).await.unwrap();
    let took = fill(&js, events).await;
    println!(
        "filled ORDER with {events} events in {:.1} s ({:.0} appends/s)",
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64()
    );
    let last = js
        .get_stream("ORDER")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;
    let dir = tempfile::tempdir().unwrap();
    let (mut raw, mut jsonl, mut parquet, mut r_jsonl, mut r_parquet) = (vec![], vec![], vec![], vec![], vec![]);
    for run in 1..=runs {
        let rate = |d: Duration| events as f64 / d.as_secs_f64();
        let r = rate(raw_replay(&js, last).await);
        let j = rate(export(&nats.url(), &dir.path().join("order.jsonl"), "jsonl", events, &[]).await);
        let p = rate(export(&nats.url(), &dir.path().join("order.parquet"), "parquet", events, &[]).await);
        println!(
            "run {run}: raw replay {r:.0}/s, JSON lines {j:.0}/s ({:.3}), Parquet {p:.0}/s ({:.3})",
            j / r,
            p / r
        );
        raw.push(r);
        jsonl.push(j);
        parquet.push(p);
        r_jsonl.push(j / r);
        r_parquet.push(p / r);
    }
    // Replay safety: a service's appends alone, beside an analyst's reader that stopped reading
    // (its consumer open, nothing taken), and while an export runs (which on these 2 cores also
    // takes CPU from the appender and the server).
    let secs = env_usize("APPEND_SECS", 5) as u64;
    // Pairs, alternating, so the appends' own drift (the stream grows, the page cache fills,
    // the exports' files are written back) falls on both sides alike.
    let (mut alone, mut stalled, mut during, mut with_export) = (vec![], vec![], vec![], vec![]);
    let (mut during_one, mut with_one) = (vec![], vec![]);
    for _ in 0..3 {
        alone.push(append_rate(&js, secs).await);
        // The analyst's own connection, as from another process: one message taken, then
        // nothing (the server holds back after its flow-control window).
        let analyst = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let stream = analyst.get_stream("ORDER").await.unwrap();
        let consumer = stream.create_consumer(OrderedConfig::default()).await.unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let _ = messages.next().await;
        stalled.push(append_rate(&js, secs).await);
        drop(messages);
    }
    // An export on every core (the default), and one held to a single formatter thread.
    for (threads, before, beside) in [
        (None, &mut during, &mut with_export),
        (Some("1"), &mut during_one, &mut with_one),
    ] {
        for _ in 0..3 {
            before.push(append_rate(&js, secs).await);
            let out = dir.path().join("during.jsonl");
            let url = nats.url();
            let export = tokio::spawn(async move {
                let extra: Vec<&str> = threads.map(|t| vec!["--threads", t]).unwrap_or_default();
                export(&url, &out, "jsonl", 0, &extra).await
            });
            beside.push(append_rate(&js, secs).await);
            export.await.unwrap();
        }
    }
    let ratio = |a: &[f64], b: &[f64]| median(a.iter().zip(b).map(|(a, b)| b / a).collect());
    println!(
        "replay safety (appends at concurrency 32, medians of 3 alternating pairs): alone {:.0}/s, \
         beside a stalled analyst reader {:.0}/s, ratio {:.3}; alone {:.0}/s, while an export runs \
         {:.0}/s, ratio {:.3}; alone {:.0}/s, while an export with --threads 1 runs {:.0}/s, ratio {:.3}",
        median(alone.clone()),
        median(stalled.clone()),
        ratio(&alone, &stalled),
        median(during.clone()),
        median(with_export.clone()),
        ratio(&during, &with_export),
        median(during_one.clone()),
        median(with_one.clone()),
        ratio(&during_one, &with_one),
    );
    let size = |name: &str| std::fs::metadata(dir.path().join(name)).map(|m| m.len()).unwrap_or(0);
    println!(
        "summary ({events} events, {runs} runs, medians): raw replay {:.0} events/s; JSON lines {:.0} events/s, \
         ratio {:.3} ({} MB); Parquet {:.0} events/s, ratio {:.3} ({} MB)",
        median(raw),
        median(jsonl),
        median(r_jsonl),
        size("order.jsonl") / 1_000_000,
        median(parquet),
        median(r_parquet),
        size("order.parquet") / 1_000_000,
    );
}
