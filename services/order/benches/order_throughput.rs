#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly
//! Measures (never asserts) the order service against raw JetStream on the same nats-server:
//!
//! 1. baseline: raw JetStream appends of the same event bytes with the expected-sequence header;
//! 2. rentops: gRPC PlaceOrder + RecordContactAttempt + ConfirmOrder end to end;
//! 3. refusals: ConfirmOrder refused on cached, current state (each confirmed against the stream
//!    before it is answered: what that read costs);
//!
//! at concurrency 1 and 32 over 1,000 orders each; projection lag under that load; and the
//! order projection's rebuild speed on SQLite and PostgreSQL against a raw replay of the stream.
//!
//! Run: `cargo bench -p rentops-order --bench order_throughput` (needs deploy/local/install-nats.sh
//! and PostgreSQL, like the tests). `ORDERS=1000` and `REPLAY_EXTRA=20000` override the sizes;
//! `CONCURRENCY=32` runs only that round, `REBUILD_ONLY=1` only the rebuild,
//! `COMMANDS_ONLY=1` no rebuild, `REBUILD_DB=sqlite` (or `postgres`) rebuilds on that one only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use rentops_eventstore::NewEvent;
use rentops_order::app::{self, OrderConfig};
use rentops_order::domain::*;
use rentops_proto::common::{CommandContext, Consistency, Money, VehicleModel};
use rentops_proto::order as pb;
use rentops_runtime::{MapEnv, ServiceConfig as _, Shutdown, SystemClock};
use rentops_testkit::{NatsServer, PgDatabase, SqliteDatabase};

mod common;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Run {
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn report(&mut self, label: &str) {
        self.latencies.sort();
        println!(
            "{label:<44} {:>9.0} ops/s   p50 {:>8.3} ms   p99 {:>8.3} ms",
            self.per_sec(),
            pct(&self.latencies, 0.5).as_secs_f64() * 1e3,
            pct(&self.latencies, 0.99).as_secs_f64() * 1e3
        );
    }
}

fn sample_events(reference: &str, now: time::OffsetDateTime) -> (String, Vec<OrderEvent>) {
    let id = order_id_for(Channel::App, "", reference);
    let booking = common::booking(reference, "C", now);
    let events = vec![
        OrderEvent::Placed {
            order_id: id,
            booking,
            placed_at: now,
            pre_verified: false,
            contact_due_at: now,
        },
        OrderEvent::ContactAttemptRecorded {
            attempted_at: now,
            outcome: ContactOutcome::Reached,
            agent: "bench".into(),
            notes: String::new(),
            call_back_at: None,
            next_contact_at: now,
        },
        OrderEvent::Confirmed {
            confirmed_at: now,
            by_pre_verification: false,
            notes: String::new(),
        },
    ];
    (id.to_string(), events)
}

/// Baseline: each "order" appends its three events one by one with the expected-sequence check,
/// like a command path would, but with no gRPC, no decision and no envelope work.
async fn raw_appends(js: &async_nats::jetstream::Context, orders: usize, concurrency: usize, prefix: &str) -> Run {
    let now = time::OffsetDateTime::now_utc();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(orders * 3)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let js = js.clone();
        let latencies = latencies.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            for i in (w..orders).step_by(concurrency) {
                let (id, events) = sample_events(&format!("{prefix}-RAW-{i}"), now);
                let filter = format!("rentops.order.order.{id}.*");
                let mut last = 0;
                for (k, e) in events.iter().enumerate() {
                    let encoded = NewEvent::encoded::<OrderAggregate>(e);
                    // The same envelope headers the service writes (one request per command), so
                    // the bytes are the same.
                    let mut h = HeaderMap::new();
                    envelope(&id, encoded.name, &format!("raw-{i}-{k}")).write_headers(&mut h);
                    h.insert("Nats-Expected-Last-Subject-Sequence", last.to_string().as_str());
                    h.insert("Nats-Expected-Last-Subject-Sequence-Subject", filter.as_str());
                    let subject = format!("rentops.order.order.{id}.{}", encoded.name);
                    let t = Instant::now();
                    let ack = js
                        .publish_with_headers(subject, h, encoded.payload.clone())
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                    latencies.lock().unwrap().push(t.elapsed());
                    last = ack.sequence;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    Run {
        ops: orders * 3,
        elapsed,
        latencies,
    }
}

fn envelope(id: &str, name: &str, request_id: &str) -> rentops_eventstore::EventMeta {
    rentops_eventstore::EventMeta {
        event_id: uuid::Uuid::now_v7(),
        event_type: format!("rentops.order.v1.{name}"),
        source: "order".into(),
        aggregate_id: id.to_owned(),
        time: time::OffsetDateTime::now_utc(),
        correlation_id: request_id.to_owned(),
        causation_id: request_id.to_owned(),
        actor: "bench".into(),
        request_id: request_id.to_owned(),
    }
}

fn ctx() -> Option<CommandContext> {
    Some(CommandContext {
        request_id: uuid::Uuid::new_v4().to_string(),
        actor: "bench".into(),
        correlation_id: String::new(),
    })
}

fn ts(t: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}

/// A valid placement of order `reference`: pickup at PVG in three days, back at SHA two later.
fn place_request(reference: &str, now: time::OffsetDateTime) -> pb::PlaceOrderRequest {
    let station = |s: &str| {
        Some(pb::Location {
            place: Some(pb::location::Place::StationId(s.into())),
        })
    };
    pb::PlaceOrderRequest {
        context: ctx(),
        channel: pb::Channel::App as i32,
        channel_order_ref: reference.to_owned(),
        customer: Some(pb::Customer {
            customer_id: "C".into(),
            name: "王芳".into(),
            phone: "13800000000".into(),
        }),
        city: "SHA".into(),
        pickup_location: station("PVG"),
        pickup_at: Some(ts(now + time::Duration::days(3))),
        return_location: station("SHA"),
        return_at: Some(ts(now + time::Duration::days(5))),
        requested_model: VehicleModel::Es6 as i32,
        price: Some(Money {
            amount_fen: 120_000,
            currency: "CNY".into(),
        }),
        ..Default::default()
    }
}

/// For scale, not a goal: the same number of calls of `grpc.health.v1.Health/Check` on the same
/// server and connections. It does no work, so this is what gRPC itself costs on this machine.
async fn grpc_floor(addr: std::net::SocketAddr, calls: usize, concurrency: usize) -> Run {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(
            tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(calls)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let mut c = HealthClient::new(channels[w % channels.len()].clone());
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            for _ in (w..calls).step_by(concurrency) {
                let t = Instant::now();
                c.check(HealthCheckRequest::default()).await.unwrap();
                latencies.lock().unwrap().push(t.elapsed());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    Run {
        ops: calls,
        elapsed,
        latencies,
    }
}

/// rentops: the three commands of a confirmed order over gRPC, end to end. Records, for each
/// command, when it was acknowledged and its sequence, to measure projection lag.
async fn grpc_commands(
    clients: &[pb::order_service_client::OrderServiceClient<tonic::transport::Channel>],
    orders: usize,
    concurrency: usize,
    prefix: &str,
    acks: Arc<Mutex<Vec<(u64, Instant)>>>,
) -> Run {
    let now = time::OffsetDateTime::now_utc();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(orders * 3)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let mut c = clients[w % clients.len()].clone();
        let latencies = latencies.clone();
        let acks = acks.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            for i in (w..orders).step_by(concurrency) {
                let t = Instant::now();
                let placed = c
                    .place_order(place_request(&format!("{prefix}-{i}"), now))
                    .await
                    .unwrap()
                    .into_inner();
                let done = Instant::now();
                latencies.lock().unwrap().push(done - t);
                acks.lock().unwrap().push((placed.sequence, done));
                let t = Instant::now();
                let called = c
                    .record_contact_attempt(pb::RecordContactAttemptRequest {
                        context: ctx(),
                        order_id: placed.order_id.clone(),
                        outcome: pb::ContactOutcome::Reached as i32,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let done = Instant::now();
                latencies.lock().unwrap().push(done - t);
                acks.lock().unwrap().push((called.sequence, done));
                let t = Instant::now();
                let confirmed = c
                    .confirm_order(pb::ConfirmOrderRequest {
                        context: ctx(),
                        order_id: placed.order_id,
                        notes: String::new(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let done = Instant::now();
                latencies.lock().unwrap().push(done - t);
                acks.lock().unwrap().push((confirmed.sequence, done));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    Run {
        ops: orders * 3,
        elapsed,
        latencies,
    }
}

/// Refusals on cached, current state: `orders` orders are placed (not timed), then each is sent a
/// ConfirmOrder that the rules refuse (nobody reached the customer). A refusal appends nothing,
/// so it is confirmed against the stream before it is answered; this is what that costs.
async fn grpc_refusals(
    clients: &[pb::order_service_client::OrderServiceClient<tonic::transport::Channel>],
    orders: usize,
    concurrency: usize,
    prefix: &str,
) -> Run {
    let now = time::OffsetDateTime::now_utc();
    let mut ids = Vec::with_capacity(orders);
    let mut c = clients[0].clone();
    for i in 0..orders {
        let placed = c
            .place_order(place_request(&format!("{prefix}-{i}"), now))
            .await
            .unwrap()
            .into_inner();
        ids.push(placed.order_id);
    }
    let ids = Arc::new(ids);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(orders)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let mut c = clients[w % clients.len()].clone();
        let latencies = latencies.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..ids.len()).step_by(concurrency) {
                let t = Instant::now();
                let refused = c
                    .confirm_order(pb::ConfirmOrderRequest {
                        context: ctx(),
                        order_id: ids[i].clone(),
                        notes: String::new(),
                    })
                    .await
                    .expect_err("refused: nobody reached the customer");
                assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
                latencies.lock().unwrap().push(t.elapsed());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    Run {
        ops: orders,
        elapsed,
        latencies,
    }
}

async fn start_app(nats_url: &str, db_url: &str, shutdown: &Shutdown) -> app::App {
    let mut env = MapEnv::from_pairs([
        ("RENTOPS_NATS_URL", nats_url),
        ("RENTOPS_DATABASE_URL", db_url),
        ("RENTOPS_METRICS_ADDR", "off"),
        ("RENTOPS_ORDER_DEADLINE_SCAN_SECS", "3600"),
    ]);
    // Projector tuning from the bench's own environment, to compare settings.
    for key in ["RENTOPS_PROJECTOR_BATCH", "RENTOPS_PROJECTOR_LINGER_MS"] {
        if let Ok(v) = std::env::var(key) {
            env.0.insert(key.into(), v);
        }
    }
    env.0.insert(
        "RENTOPS_INSTANCE_ID".into(),
        format!("bench-{}", uuid::Uuid::new_v4().simple()),
    );
    let config = OrderConfig::read(&env).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    app::start(config, listener, Arc::new(SystemClock), shutdown.clone())
        .await
        .unwrap()
}

/// Rebuild speed: a replica that has caught up is asked to rebuild (replay from sequence 1 into
/// a view beside the live one, build its secondary indexes, switch it in) three times; the
/// median rate, start-up excluded.
async fn rebuild_speed(nats_url: &str, db_url: &str, last: u64) -> f64 {
    let shutdown = Shutdown::new();
    let a = start_app(nats_url, db_url, &shutdown).await;
    a.projector
        .checkpoints
        .wait_for(last, Duration::from_secs(600))
        .await
        .unwrap();
    let mut rates = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        a.projector.rebuild().await.unwrap();
        a.projector
            .checkpoints
            .wait_for(last, Duration::from_secs(600))
            .await
            .unwrap();
        // Done when the rebuilt view, its indexes built, has replaced the live one.
        let mut rebuilding = a.projector.rebuilding();
        rebuilding.wait_for(|r| !*r).await.unwrap();
        rates.push(last as f64 / t.elapsed().as_secs_f64());
    }
    let runs: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!("   rebuild runs: {}", runs.join(", "));
    rates.sort_by(f64::total_cmp);
    shutdown.cancel();
    a.join().await;
    rates[1]
}

/// The allocator the service binary runs with (services/order/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    rentops_testkit::init_tracing();
    let orders = env_usize("ORDERS", 1000);
    let extra = env_usize("REPLAY_EXTRA", 20_000);
    let nats = NatsServer::start()
        .await
        .expect("nats-server (run deploy/local/install-nats.sh)");
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let sqlite = SqliteDatabase::new().unwrap();
    let shutdown = Shutdown::new();
    let app = start_app(&nats.url(), &sqlite.url, &shutdown).await;
    // Like many app servers calling in: several HTTP/2 connections, not one.
    let mut grpc = Vec::new();
    for _ in 0..4 {
        let url = format!("http://{}", app.addr);
        grpc.push(
            pb::order_service_client::OrderServiceClient::connect(url)
                .await
                .unwrap(),
        );
    }

    // Projection lag: when the projector reached each sequence.
    let applied_at: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    {
        let mut rx = app.projector.applied();
        let applied_at = applied_at.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let v = *rx.borrow();
                applied_at.lock().unwrap().push((v, Instant::now()));
            }
        });
    }

    println!(
        "order service benchmark: {orders} orders x 3 commands, nats-server at {}",
        nats.url()
    );
    let mut ratios = Vec::new();
    let mut refusals = Vec::new();
    // REBUILD_ONLY=1 skips the command runs (to iterate on the projector).
    // CONCURRENCY=32 (a comma list) runs only those rounds.
    let concurrencies: Vec<usize> = if std::env::var("REBUILD_ONLY").is_ok() {
        vec![]
    } else {
        std::env::var("CONCURRENCY")
            .ok()
            .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![1, 32])
    };
    for (round, concurrency) in concurrencies.into_iter().enumerate() {
        // Warm up both paths a little.
        raw_appends(&js, 50, concurrency, &format!("w{round}")).await;
        grpc_commands(&grpc, 50, concurrency, &format!("W{round}"), Arc::default()).await;

        let mut raw = raw_appends(&js, orders, concurrency, &format!("r{round}")).await;
        raw.report(&format!("1. raw JetStream appends, concurrency {concurrency}"));
        let acks: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let mut ours = grpc_commands(&grpc, orders, concurrency, &format!("B{round}"), acks.clone()).await;
        ours.report(&format!("2. rentops gRPC commands, concurrency {concurrency}"));
        let ratio = ours.per_sec() / raw.per_sec();
        println!("   ratio 2 / 1 at concurrency {concurrency}: {ratio:.2}");
        ratios.push((concurrency, ratio));

        // Lag: from each command's acknowledgement to the projector having applied it.
        let last = acks.lock().unwrap().iter().map(|a| a.0).max().unwrap_or(0);
        app.projector
            .checkpoints
            .wait_for(last, Duration::from_secs(60))
            .await
            .unwrap();
        let applied = applied_at.lock().unwrap().clone();
        let mut lags: Vec<Duration> = acks
            .lock()
            .unwrap()
            .iter()
            .map(|(seq, acked)| {
                let at = applied
                    .iter()
                    .find(|(v, _)| v >= seq)
                    .map(|(_, t)| *t)
                    .unwrap_or(*acked);
                at.saturating_duration_since(*acked)
            })
            .collect();
        lags.sort();
        println!(
            "   projection lag under that load: p50 {:.3} ms, p99 {:.3} ms",
            pct(&lags, 0.5).as_secs_f64() * 1e3,
            pct(&lags, 0.99).as_secs_f64() * 1e3
        );
        // After the lag is measured, so the projector catching up does not compete with it.
        grpc_floor(app.addr, orders * 3, concurrency)
            .await
            .report(&format!("   (gRPC alone: health checks, concurrency {concurrency})"));
        let mut refused = grpc_refusals(&grpc, orders, concurrency, &format!("N{round}")).await;
        refused.report(&format!(
            "3. refused ConfirmOrder on cached state, concurrency {concurrency}"
        ));
        refusals.push((concurrency, refused.per_sec(), pct(&refused.latencies, 0.5)));
    }

    if std::env::var("COMMANDS_ONLY").is_ok() {
        shutdown.cancel();
        app.join().await;
        for (c, r) in ratios {
            println!("summary: ratio rentops/raw at concurrency {c}: {r:.2}");
        }
        for (c, per_sec, p50) in refusals {
            println!(
                "summary: refusals at concurrency {c}: {per_sec:.0} per s, p50 {:.3} ms",
                p50.as_secs_f64() * 1e3
            );
        }
        return;
    }

    // More events for the replay comparison: valid order events, published directly.
    let now = time::OffsetDateTime::now_utc();
    let mut acks = futures::stream::FuturesUnordered::new();
    for i in 0..extra {
        let (id, events) = sample_events(&format!("FILL-{i}"), now);
        let e = &events[0];
        let encoded = NewEvent::encoded::<OrderAggregate>(e);
        let meta = envelope(&id, encoded.name, &format!("fill-{i}"));
        let mut h = HeaderMap::new();
        meta.write_headers(&mut h);
        acks.push(std::future::IntoFuture::into_future(
            js.publish_with_headers(
                format!("rentops.order.order.{id}.{}", encoded.name),
                h,
                encoded.payload.clone(),
            )
            .await
            .unwrap(),
        ));
        if acks.len() >= 256 {
            acks.next().await.unwrap().unwrap();
        }
    }
    while let Some(a) = acks.next().await {
        a.unwrap();
    }
    let mut stream = js.get_stream("ORDER").await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    shutdown.cancel();
    app.join().await;

    // Raw replay: an ordered consumer over the whole stream, no acks, no work.
    let mut replay_rates = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: "rentops.order.>".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut msgs = consumer.messages().await.unwrap();
        let mut n = 0u64;
        while n < last {
            let m = msgs.next().await.unwrap().unwrap();
            let _: &Bytes = &m.payload;
            n += 1;
        }
        replay_rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let runs: Vec<String> = replay_rates.iter().map(|r| format!("{r:.0}")).collect();
    replay_rates.sort_by(f64::total_cmp);
    let raw_replay = replay_rates[2];
    println!(
        "raw replay of the {last}-event stream (median of 5): {raw_replay:.0} events/s  (runs: {})",
        runs.join(", ")
    );
    // REBUILD_DB=sqlite or =postgres measures only that one (to profile it alone).
    let only = std::env::var("REBUILD_DB").unwrap_or_default();
    if only != "postgres" {
        let sqlite_rebuild = rebuild_speed(&nats.url(), &SqliteDatabase::new().unwrap().url, last).await;
        println!(
            "order projection rebuild, SQLite:     {sqlite_rebuild:>9.0} events/s  ({:.2} of raw replay)",
            sqlite_rebuild / raw_replay
        );
    }
    match if only == "sqlite" {
        Err("REBUILD_DB=sqlite".into())
    } else {
        PgDatabase::new().await.map_err(|e| e.to_string())
    } {
        Ok(pg) => {
            let pg_rebuild = rebuild_speed(&nats.url(), &pg.url, last).await;
            println!(
                "order projection rebuild, PostgreSQL: {pg_rebuild:>9.0} events/s  ({:.2} of raw replay)",
                pg_rebuild / raw_replay
            );
        }
        Err(e) => println!("PostgreSQL unavailable, rebuild not measured: {e}"),
    }
    let _ = Consistency::default();
    for (c, r) in ratios {
        println!("summary: ratio rentops/raw at concurrency {c}: {r:.2}");
    }
    for (c, per_sec, p50) in refusals {
        println!(
            "summary: refusals at concurrency {c}: {per_sec:.0} per s, p50 {:.3} ms",
            p50.as_secs_f64() * 1e3
        );
    }
}
