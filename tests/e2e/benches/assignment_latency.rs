#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly
//! Measures (never asserts) how long a confirmed order takes to show its car: from
//! `ConfirmOrder`'s answer to `GetOrder` returning the assigned vehicle, hop by hop.
//!
//! Both services run in-process on one nats-server (as in `tests/`), on the system clock, with
//! city SHA and `ORDERS + 5` cars at PVG. Then `ORDERS` times, one order at a time: place, reach
//! the customer, confirm, and follow the order through
//!
//! 1. ack → fleet's demand projection has applied `OrderConfirmed` (its applied sequence);
//! 2. → the re-plan request is due (applied + the debounce: the request is recorded inside that
//!    transaction, so this is an upper bound of the real due time);
//! 3. → the re-plan started (the `ce-time` of its `VehicleAssigned`: the re-plan's clock read);
//! 4. → `VehicleAssigned` appended to FLEET (the broker's stored time);
//! 5. → the order's fleet-plan reactor folded it: `VehicleAssignmentRecorded` appended to ORDER;
//! 6. → the order projection has applied it (its applied sequence);
//! 7. → `GetOrder` (read-your-writes on that sequence) returned the car to this client.
//!
//! Times come from the events themselves where they can (`ce-time`, the broker's timestamps)
//! and from the projectors' applied sequences, watched in-process. p50/p99 per hop and total.
//!
//! Run: `cargo bench -p rentops-e2e --bench assignment_latency` (needs nats-server and, for
//! PostgreSQL, a server, like the tests). `ORDERS=50`; `DB=sqlite` (default), `postgres` or
//! `both`; `DEBOUNCE_MS=300` (the fleet's `RENTOPS_FLEET_REPLAN_DEBOUNCE_MS`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rentops_e2e::{Desk, cny, rid, station, ts};
use rentops_eventstore::RecordedEvent;
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::order as opb;
use rentops_runtime::SystemClock;
use rentops_testkit::TestDatabase;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// When each applied sequence of a projector was first seen, watched from the start.
#[derive(Clone, Default)]
struct AppliedLog(Arc<Mutex<Vec<(u64, OffsetDateTime)>>>);

impl AppliedLog {
    fn watch(mut rx: watch::Receiver<u64>) -> Self {
        let log = AppliedLog::default();
        let l = log.clone();
        tokio::spawn(async move {
            loop {
                let v = *rx.borrow_and_update();
                l.0.lock().unwrap().push((v, OffsetDateTime::now_utc()));
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
        log
    }

    /// When the projector first had `sequence` applied.
    async fn reached(&self, sequence: u64) -> OffsetDateTime {
        for _ in 0..30_000 {
            if let Some(&(_, at)) = self.0.lock().unwrap().iter().find(|(s, _)| *s >= sequence) {
                return at;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("sequence {sequence} never applied");
    }
}

/// An event as the broker stored it.
#[derive(Clone, Debug)]
struct Seen {
    sequence: u64,
    stored: OffsetDateTime,
    event: RecordedEvent,
}

/// Follows `subject` of `stream` from now on (an ordered consumer), sending every event seen.
async fn follow(js: async_nats::jetstream::Context, stream: &str, subject: &str) -> mpsc::UnboundedReceiver<Seen> {
    use async_nats::jetstream::consumer;
    let stream = js.get_stream(stream).await.expect("stream");
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .expect("ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(m)) = messages.next().await {
            let info = m.info().expect("info");
            let (sequence, stored) = (info.stream_sequence, info.published);
            let event =
                RecordedEvent::from_message(sequence, m.subject.as_str(), m.headers.as_ref(), m.payload.clone())
                    .expect("a rentops event");
            if tx
                .send(Seen {
                    sequence,
                    stored,
                    event,
                })
                .is_err()
            {
                return;
            }
        }
    });
    rx
}

const HOPS: [&str; 7] = [
    "ack -> demand projection applied OrderConfirmed",
    "-> re-plan request due (debounce)",
    "-> re-plan started",
    "-> VehicleAssigned appended",
    "-> VehicleAssignmentRecorded appended (order reactor)",
    "-> order projection applied it",
    "-> GetOrder returned the car",
];

fn ms(d: time::Duration) -> f64 {
    d.as_seconds_f64() * 1e3
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn run(order_db: TestDatabase, fleet_db: TestDatabase, orders: usize, debounce_ms: u64) {
    let label = order_db.label();
    let debounce = debounce_ms.to_string();
    let mut desk = Desk::start_with(
        &order_db,
        &fleet_db,
        Arc::new(SystemClock),
        &[("RENTOPS_ORDER_DEADLINE_SCAN_SECS", "3600")],
        &[("RENTOPS_FLEET_REPLAN_DEBOUNCE_MS", debounce.as_str())],
    )
    .await;
    let demand = AppliedLog::watch(desk.fleet_app().demand_projector.applied());
    let projected = AppliedLog::watch(desk.order_app().projector.applied());
    let nats = async_nats::connect(desk.nats_url()).await.expect("nats");
    let js = async_nats::jetstream::new(nats);

    desk.city_sha().await;
    for i in 0..orders + 5 {
        desk.register(&format!("V{i:04}"), &format!("沪AD{i:05}"), VehicleModel::Es6, "PVG")
            .await;
    }
    // Let the re-plans of the set-up pass.
    tokio::time::sleep(Duration::from_millis(debounce_ms + 1500)).await;
    let mut plan_events = follow(js.clone(), "FLEET", "rentops.fleet.plan.>").await;
    let mut recorded = follow(js.clone(), "ORDER", "rentops.order.order.*.VehicleAssignmentRecorded").await;
    let mut plan_seen: HashMap<String, Seen> = HashMap::new();

    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let start = OffsetDateTime::now_utc().date().next_day().expect("tomorrow");
    let pickup = start.with_hms(10, 0, 0).expect("10:00").assume_utc();
    let mut hops: Vec<Vec<f64>> = vec![Vec::new(); HOPS.len()];
    let mut totals = Vec::new();
    let mut plan_sizes = Vec::new();
    for i in 0..orders {
        let placed = desk
            .oc
            .place_order(opb::PlaceOrderRequest {
                context: rid(),
                channel: opb::Channel::App as i32,
                channel_order_ref: format!("LAT-{run_id}-{i}"),
                customer: Some(opb::Customer {
                    customer_id: format!("C-{i}"),
                    name: "王芳".into(),
                    phone: "+86 138 0000 0000".into(),
                }),
                city: "SHA".into(),
                pickup_location: station("PVG"),
                pickup_at: Some(ts(pickup)),
                return_location: station("PVG"),
                return_at: Some(ts(pickup + time::Duration::hours(24))),
                requested_model: VehicleModel::Es6 as i32,
                price: cny(120_000),
                rental_deposit: cny(500_000),
                violation_deposit: cny(200_000),
                ..Default::default()
            })
            .await
            .expect("placed")
            .into_inner();
        let order_id = placed.order_id;
        desk.oc
            .record_contact_attempt(opb::RecordContactAttemptRequest {
                context: rid(),
                order_id: order_id.clone(),
                outcome: opb::ContactOutcome::Reached as i32,
                ..Default::default()
            })
            .await
            .expect("call");
        // Quiet before the measured step: nothing of the placement is still moving.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let confirmed = desk
            .oc
            .confirm_order(opb::ConfirmOrderRequest {
                context: rid(),
                order_id: order_id.clone(),
                notes: String::new(),
            })
            .await
            .expect("confirmed")
            .into_inner();
        let acked = OffsetDateTime::now_utc();

        // The order's assignment, as the order stream stored it.
        let assignment = loop {
            let seen = tokio::time::timeout(Duration::from_secs(30), recorded.recv())
                .await
                .expect("an assignment within 30 s")
                .expect("the order stream followed");
            if seen.event.meta.aggregate_id == order_id {
                break seen;
            }
        };
        let got = desk
            .oc
            .get_order(opb::GetOrderRequest {
                order_id: order_id.clone(),
                as_of: None,
                consistency: Some(Consistency {
                    min_sequence: assignment.sequence,
                    timeout_ms: 10_000,
                }),
            })
            .await
            .expect("get order")
            .into_inner()
            .order
            .expect("an order");
        let shown = OffsetDateTime::now_utc();
        assert!(!got.assigned_vehicle_id.is_empty(), "{label}: no car shown: {got:?}");

        // The plan event that caused it.
        let cause = assignment.event.meta.causation_id.clone();
        let assigned = loop {
            if let Some(s) = plan_seen.get(&cause) {
                break s.clone();
            }
            let s = tokio::time::timeout(Duration::from_secs(10), plan_events.recv())
                .await
                .expect("the plan event")
                .expect("the plan stream followed");
            plan_seen.insert(s.event.meta.event_id.to_string(), s);
        };
        // Everything of this re-plan that was stored so far (its other events, for context).
        while let Ok(s) = plan_events.try_recv() {
            plan_seen.insert(s.event.meta.event_id.to_string(), s);
        }
        let replan = &assigned.event.meta.correlation_id;
        plan_sizes.push(
            plan_seen
                .values()
                .filter(|s| &s.event.meta.correlation_id == replan)
                .count(),
        );

        let demand_applied = demand.reached(confirmed.sequence).await;
        let due = demand_applied + time::Duration::milliseconds(debounce_ms as i64);
        let started = assigned.event.meta.time;
        let order_applied = projected.reached(assignment.sequence).await;
        let points = [
            acked,
            demand_applied,
            due,
            started,
            assigned.stored,
            assignment.stored,
            order_applied,
            shown,
        ];
        for (h, w) in points.windows(2).enumerate() {
            hops[h].push(ms(w[1] - w[0]));
        }
        totals.push(ms(shown - acked));
        // Let this order's re-plan settle before the next one.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!(
        "\n{label}: {orders} orders, one at a time, debounce {debounce_ms} ms; plan events per re-plan (seen): p50 {}",
        {
            plan_sizes.sort();
            plan_sizes.get(plan_sizes.len() / 2).copied().unwrap_or(0)
        }
    );
    println!("{:<56} {:>9} {:>9}", "hop", "p50 ms", "p99 ms");
    for (name, values) in HOPS.iter().zip(hops.iter_mut()) {
        values.sort_by(f64::total_cmp);
        println!("{name:<56} {:>9.1} {:>9.1}", pct(values, 0.5), pct(values, 0.99));
    }
    totals.sort_by(f64::total_cmp);
    let (p50, p99) = (pct(&totals, 0.5), pct(&totals, 0.99));
    println!("{:<56} {p50:>9.1} {p99:>9.1}", "total: ack -> GetOrder shows the car");
    println!(
        "{:<56} {:>9.1} {:>9.1}",
        "total minus debounce",
        p50 - debounce_ms as f64,
        p99 - debounce_ms as f64
    );
    // One line per run for scripts: label, then p50/p99 of every hop and of the total.
    let mut line = format!("RESULT {label}");
    for values in &hops {
        line.push_str(&format!(" {:.1}/{:.1}", pct(values, 0.5), pct(values, 0.99)));
    }
    println!("{line} {p50:.1}/{p99:.1}");
    desk.stop().await;
}

fn main() {
    let orders = env_usize("ORDERS", 50);
    let debounce_ms = env_usize("DEBOUNCE_MS", 300) as u64;
    let which = std::env::var("DB").unwrap_or_else(|_| "sqlite".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if which == "sqlite" || which == "both" {
            run(
                TestDatabase::sqlite().expect("sqlite"),
                TestDatabase::sqlite().expect("sqlite"),
                orders,
                debounce_ms,
            )
            .await;
        }
        if which == "postgres" || which == "both" {
            run(
                TestDatabase::postgres().await.expect("postgres"),
                TestDatabase::postgres().await.expect("postgres"),
                orders,
                debounce_ms,
            )
            .await;
        }
    });
}
