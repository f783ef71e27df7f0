#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly
//! What the event envelope costs an append (measures, never asserts). Single-event appends of the
//! order service's `OrderPlaced`, each to a new order with the wildcard expected-sequence check,
//! on one nats-server, in the same run and alternating:
//!
//! 1. **concurrency headers only**: `Nats-Msg-Id`, `Nats-Expected-Last-Subject-Sequence` and its
//!    `…-Subject`, nothing else: the floor any envelope is measured against;
//! 2. **the first envelope**: those plus the headers the log wrote before the envelope was made
//!    lean (the CloudEvents binding's seven, four `rentops-*` ones and `traceparent`), written
//!    here by hand, for reference;
//! 3. **`EventStore::append`**: the project's own append with the envelope it writes now, inside
//!    a sampled span, so the trace context is on every event as it is in the services;
//! 4. **this envelope by hand**: the headers 3 writes, written here by hand, so that 3 ÷ 4 is what
//!    the append code costs beside its bytes (`LEAN_DROP=ce-actor,ce-traceparent` leaves headers out
//!    of 4, to price each one).
//!
//! It prints each variant's header block in bytes, its appends/s and CPU per append (client and
//! server) at concurrency 1 and 32 (the median of `ROUNDS` rounds), and the ratios of 3 to 1, 4 to
//! 1 and 3 to 4, per round and as the median of the rounds.
//!
//! Run: `cargo bench -p rentops-order --bench envelope` (needs deploy/local/install-nats.sh, like
//! the tests). `APPENDS=3000` (per variant and round), `ROUNDS=21` and `CONCURRENCY=1,32` override;
//! rounds are short and this machine's rounds vary by a third, so the figures are medians of many.
//! `VARIANTS=1,4` runs only those (to profile one).

use std::sync::Arc;
use std::time::Instant;

use async_nats::HeaderMap;
use rentops_eventstore::{AppendRequest, EventStore, NewEvent, StreamSettings};
use rentops_order::domain::*;
use rentops_testkit::NatsServer;
use tracing::Instrument;

mod common;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    ConcurrencyOnly,
    FirstEnvelope,
    EventStore,
    /// The headers `EventStore::append` writes, written here by hand: what the append code
    /// costs beside its bytes.
    LeanByHand,
}

impl Variant {
    const ALL: [Variant; 4] = [
        Variant::ConcurrencyOnly,
        Variant::FirstEnvelope,
        Variant::EventStore,
        Variant::LeanByHand,
    ];

    fn label(self) -> &'static str {
        match self {
            Variant::ConcurrencyOnly => "1. concurrency headers only",
            Variant::FirstEnvelope => "2. the first envelope (by hand)",
            Variant::EventStore => "3. EventStore::append (this envelope)",
            Variant::LeanByHand => "4. this envelope by hand",
        }
    }
}

/// One `OrderPlaced` as the order service encodes it.
fn placed(reference: &str) -> (String, NewEvent) {
    let now = time::OffsetDateTime::now_utc();
    let id = order_id_for(Channel::App, "", reference);
    let booking = common::booking(reference, "C1001", now);
    let event = OrderEvent::Placed {
        order_id: id,
        booking,
        placed_at: now,
        pre_verified: false,
        contact_due_at: now,
    };
    (id.to_string(), NewEvent::encoded::<OrderAggregate>(&event))
}

/// The request id a desk app would send: a UUID, as the README's session does.
fn request_id(prefix: &str, i: usize) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{prefix}-{i}").as_bytes()).to_string()
}

fn concurrency_headers(id: &str, request_id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("Nats-Msg-Id", format!("{id}:{request_id}:0").as_str());
    h.insert("Nats-Expected-Last-Subject-Sequence", "0");
    h.insert(
        "Nats-Expected-Last-Subject-Sequence-Subject",
        format!("rentops.order.order.{id}.*").as_str(),
    );
    h
}

/// The headers the log wrote on an `OrderPlaced` before the envelope was made lean.
fn first_envelope(id: &str, request_id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let time = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    h.insert("ce-specversion", "1.0");
    h.insert("ce-id", uuid::Uuid::now_v7().to_string().as_str());
    h.insert("ce-source", "order");
    h.insert("ce-type", "rentops.order.v1.OrderPlaced");
    h.insert("ce-subject", id);
    h.insert("ce-time", time.as_str());
    h.insert("Content-Type", "application/protobuf");
    h.insert("rentops-correlation-id", request_id);
    h.insert("rentops-causation-id", request_id);
    h.insert("rentops-actor", "desk:li");
    h.insert("rentops-request-id", request_id);
    h.insert(
        "traceparent",
        format!(
            "00-{}-{}-01",
            uuid::Uuid::new_v4().simple(),
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        )
        .as_str(),
    );
    h.insert("tracestate", "");
    h.insert("Nats-Msg-Id", format!("{id}:{request_id}:0").as_str());
    h.insert("rentops-request-fingerprint", "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    h.insert("Nats-Expected-Last-Subject-Sequence", "0");
    h.insert(
        "Nats-Expected-Last-Subject-Sequence-Subject",
        format!("rentops.order.order.{id}.*").as_str(),
    );
    h
}

/// What `EventStore::append` writes on an `OrderPlaced` of a person's command.
fn lean_by_hand(id: &str, request_id: &str) -> HeaderMap {
    let mut h = concurrency_headers(id, request_id);
    let time = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    h.insert("ce-time", time.as_str());
    h.insert("ce-actor", "desk:li");
    h.insert("ce-requestfp", "0f1e2d3c4b5a6978");
    // `LEAN_TRACE=w3c` writes the trace context as a bare `traceparent`, as the envelope did
    // before (ADR 0028).
    let trace_header = if std::env::var("LEAN_TRACE").as_deref() == Ok("w3c") {
        "traceparent"
    } else {
        "ce-traceparent"
    };
    h.insert(
        trace_header,
        format!(
            "00-{}-{}-01",
            uuid::Uuid::new_v4().simple(),
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        )
        .as_str(),
    );
    // `LEAN_DROP=ce-traceparent,ce-actor` leaves headers out: what each one costs.
    if let Ok(drop) = std::env::var("LEAN_DROP") {
        let mut kept = HeaderMap::new();
        for (name, values) in h.iter() {
            if !drop.split(',').any(|d| d.trim() == name.to_string()) {
                for v in values {
                    kept.append(name.clone(), v.clone());
                }
            }
        }
        return kept;
    }
    h
}

/// The bytes of a header block on the wire: `NATS/1.0\r\n`, `name: value\r\n` each, `\r\n`.
fn block_bytes(h: &HeaderMap) -> usize {
    let fields: usize = h
        .iter()
        .map(|(name, values)| {
            values
                .iter()
                .map(|v| name.to_string().len() + 2 + v.as_str().len() + 2)
                .sum::<usize>()
        })
        .sum();
    "NATS/1.0\r\n".len() + fields + 2
}

async fn append_one(variant: Variant, store: &EventStore, prefix: &str, i: usize) {
    let (id, event) = placed(&format!("{prefix}-{i}"));
    let request_id = request_id(prefix, i);
    let subject = format!("rentops.order.order.{id}.{}", event.name);
    match variant {
        Variant::ConcurrencyOnly | Variant::FirstEnvelope | Variant::LeanByHand => {
            let headers = match variant {
                Variant::ConcurrencyOnly => concurrency_headers(&id, &request_id),
                Variant::FirstEnvelope => first_envelope(&id, &request_id),
                _ => lean_by_hand(&id, &request_id),
            };
            let ack = store
                .client()
                .request_with_headers(subject, headers, event.payload.clone())
                .await
                .unwrap();
            assert!(
                !ack.payload.windows(5).any(|w| w == b"error"),
                "append refused: {}",
                String::from_utf8_lossy(&ack.payload)
            );
        }
        Variant::EventStore => {
            let fingerprint = "0f1e2d3c4b5a6978";
            let req = AppendRequest {
                aggregate_type: "order",
                aggregate_id: &id,
                expected: 0,
                request_id: &request_id,
                fingerprint: Some(fingerprint),
                correlation_id: &request_id,
                causation_id: &request_id,
                actor: "desk:li",
                time: time::OffsetDateTime::now_utc(),
            };
            // Inside the worker's span (see `run`): the trace context is written from it.
            store.append(&req, std::slice::from_ref(&event)).await.unwrap();
        }
    }
}

/// CPU time of every thread of process `pid` so far, in seconds (`/proc/<pid>/task/*/schedstat`,
/// nanoseconds): on a machine of few cores, what an append costs the client and the server is
/// what bounds its rate, and CPU time is steadier than wall time under other load.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

/// The nats-server process whose command line names `store` (its JetStream directory).
fn server_pid(store: &std::path::Path) -> Option<u32> {
    let needle = store.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.find_map(|p| {
        let p = p.ok()?;
        let pid: u32 = p.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline).contains(&needle).then_some(pid)
    })
}

struct Measured {
    /// Appends per second.
    rate: f64,
    /// CPU microseconds per append, this process and the server together.
    cpu_us: f64,
    /// The server's part of `cpu_us`.
    server_us: f64,
}

/// `appends` appends of one variant from `concurrency` tasks.
async fn run(
    variant: Variant,
    store: &EventStore,
    appends: usize,
    concurrency: usize,
    prefix: &str,
    server: Option<u32>,
) -> Measured {
    let server_cpu = || server.map_or(0.0, cpu_secs);
    let cpu = || cpu_secs(std::process::id()) + server_cpu();
    let (cpu_before, server_before) = (cpu(), server_cpu());
    let started = Instant::now();
    let mut tasks = Vec::new();
    let store = Arc::new(store.clone());
    for w in 0..concurrency {
        let store = store.clone();
        let prefix = prefix.to_owned();
        // One sampled span per worker, as a command's server span is in a service: the append
        // writes the trace context from it, and what a span costs is not the envelope's.
        let span = tracing::info_span!("worker", w);
        tasks.push(tokio::spawn(
            async move {
                for i in (w..appends).step_by(concurrency) {
                    append_one(variant, &store, &prefix, i).await;
                }
            }
            .instrument(span),
        ));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = appends as f64 / started.elapsed().as_secs_f64();
    Measured {
        rate,
        cpu_us: (cpu() - cpu_before) * 1e6 / appends as f64,
        server_us: (server_cpu() - server_before) * 1e6 / appends as f64,
    }
}

#[tokio::main]
async fn main() {
    // A tracer provider and the W3C propagator, as every service installs them: the append then
    // writes the trace context from the span it runs in.
    let _telemetry = rentops_runtime::telemetry::init(
        "envelope-bench",
        rentops_runtime::config::LogFormat::Text,
        &rentops_runtime::telemetry::TraceSettings::default(),
    )
    .expect("telemetry");
    let appends = env_usize("APPENDS", 3000);
    let rounds = env_usize("ROUNDS", 21);
    let concurrencies: Vec<usize> = std::env::var("CONCURRENCY")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 32]);
    // The ratios need 1, 3 and 4.
    let variants: Vec<Variant> = std::env::var("VARIANTS")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|i| i.trim().parse::<usize>().ok())
                .filter_map(|i| Variant::ALL.get(i.wrapping_sub(1)).copied())
                .collect()
        })
        .unwrap_or_else(|| Variant::ALL.to_vec());
    let nats = NatsServer::start()
        .await
        .expect("nats-server (run deploy/local/install-nats.sh)");
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    rentops_eventstore::ensure_stream(&js, &StreamSettings::for_service("order", 1))
        .await
        .unwrap();
    let store = EventStore::new(client.clone(), "ORDER", "order");
    let server = server_pid(nats.store_dir());

    // What each variant puts on the wire for one OrderPlaced.
    let (id, _) = placed("sizes-0");
    let rid = request_id("sizes", 0);
    println!(
        "envelope benchmark: single-event OrderPlaced appends, {appends} per variant and round, {rounds} rounds, nats-server at {}",
        nats.url()
    );
    println!(
        "header block, bytes: 1. {}   2. {}   3. see below   4. {}",
        block_bytes(&concurrency_headers(&id, &rid)),
        block_bytes(&first_envelope(&id, &rid)),
        block_bytes(&lean_by_hand(&id, &rid))
    );
    append_one(Variant::EventStore, &store, "sizes", 0)
        .instrument(tracing::info_span!("worker"))
        .await;
    let written = js
        .get_stream("ORDER")
        .await
        .unwrap()
        .get_last_raw_message_by_subject(&format!("rentops.order.order.{id}.OrderPlaced"))
        .await
        .unwrap();
    let headers = written.headers;
    let mut names: Vec<String> = headers.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    println!(
        "3. as stored (the server adds nothing to these): {} bytes: {}",
        block_bytes(&headers),
        names.join(", ")
    );

    for concurrency in concurrencies {
        // Warm up every path.
        for &v in &variants {
            run(
                v,
                &store,
                200,
                concurrency,
                &format!("warm-{concurrency}-{v:?}"),
                server,
            )
            .await;
        }
        let n = Variant::ALL.len();
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut servers: Vec<Vec<f64>> = vec![Vec::new(); n];
        let (mut ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate the order so that no variant always runs on a fuller stream.
            let mut order = variants.clone();
            order.rotate_left(round % variants.len());
            let mut this = vec![0.0; n];
            let mut this_cpu = vec![0.0; n];
            for v in order {
                let m = run(
                    v,
                    &store,
                    appends,
                    concurrency,
                    &format!("c{concurrency}-r{round}-{v:?}"),
                    server,
                )
                .await;
                (this[v as usize], this_cpu[v as usize]) = (m.rate, m.cpu_us);
                rates[v as usize].push(m.rate);
                cpus[v as usize].push(m.cpu_us);
                servers[v as usize].push(m.server_us);
            }
            let (ours, floor) = (Variant::EventStore as usize, Variant::ConcurrencyOnly as usize);
            ratios.push(this[ours] / this[floor]);
            cpu_ratios.push(this_cpu[floor] / this_cpu[ours]);
            println!(
                "concurrency {concurrency:>2} round {round:>2}: {}   3 ÷ 1 = {:.3}, by CPU {:.3}",
                (0..n)
                    .map(|i| format!("{}. {:>6.0}/s {:>5.1} µs", i + 1, this[i], this_cpu[i]))
                    .collect::<Vec<_>>()
                    .join("  "),
                this[ours] / this[floor],
                this_cpu[floor] / this_cpu[ours],
            );
        }
        for &v in &variants {
            println!(
                "concurrency {concurrency:>2}  {:<40} median {:>7.0} appends/s, {:>5.1} µs CPU per append (client + server; the server {:>5.1})",
                v.label(),
                median(&mut rates[v as usize]),
                median(&mut cpus[v as usize]),
                median(&mut servers[v as usize]),
            );
        }
        let first: Vec<f64> = rates[Variant::FirstEnvelope as usize]
            .iter()
            .zip(&rates[Variant::ConcurrencyOnly as usize])
            .map(|(a, b)| a / b)
            .collect();
        let per_round = |a: Variant, b: Variant| -> Vec<f64> {
            rates[a as usize]
                .iter()
                .zip(&rates[b as usize])
                .map(|(a, b)| a / b)
                .collect()
        };
        println!(
            "summary: concurrency {concurrency}: EventStore::append ÷ concurrency headers only = {:.3} appends/s, {:.3} by CPU per append (medians of rounds); the first envelope ÷ concurrency only = {:.3}; this envelope by hand ÷ concurrency only = {:.3}; EventStore::append ÷ this envelope by hand = {:.3}",
            median(&mut ratios),
            median(&mut cpu_ratios),
            median(&mut first.clone()),
            median(&mut per_round(Variant::LeanByHand, Variant::ConcurrencyOnly)),
            median(&mut per_round(Variant::EventStore, Variant::LeanByHand)),
        );
    }
}
