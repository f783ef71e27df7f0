#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly
//! Measures (never asserts) the order projection's `apply` alone, without a consumer: batches of
//! freshly placed orders and of follow-up events, on SQLite and PostgreSQL. Tells the database
//! cost of projecting apart from the cost of consuming.
//!
//! Run: `cargo bench -p rentops-order --bench projection_apply`.

use std::time::Instant;

use rentops_eventstore::RecordedEvent;
use rentops_eventstore::testing::recorded;
use rentops_order::domain::*;
use rentops_order::projections::OrdersProjection;
use rentops_projection::{Db, Projection};
use rentops_testkit::{PgDatabase, SqliteDatabase};

mod common;

fn events(round: usize, batch: usize, seq0: u64) -> Vec<RecordedEvent> {
    let now = time::OffsetDateTime::now_utc();
    (0..batch)
        .map(|i| {
            let r = format!("B-{i}");
            let id = order_id_for(Channel::App, "", &r);
            let e = if round == 0 {
                OrderEvent::Placed {
                    order_id: id,
                    booking: common::booking(&r, "C", now),
                    placed_at: now,
                    pre_verified: false,
                    contact_due_at: now,
                }
            } else {
                OrderEvent::ContactAttemptRecorded {
                    attempted_at: now,
                    outcome: ContactOutcome::NoAnswer,
                    agent: "bench".into(),
                    notes: String::new(),
                    call_back_at: None,
                    next_contact_at: now,
                }
            };
            recorded::<OrderAggregate>("order", seq0 + i as u64 + 1, &id.to_string(), &e, now)
        })
        .collect()
}

async fn measure(label: &str, url: &str) {
    let db = Db::connect(url).await.unwrap();
    db.migrate(
        &sqlx::migrate!("./migrations/sqlite"),
        &sqlx::migrate!("./migrations/postgres"),
    )
    .await
    .unwrap();
    let p = OrdersProjection::new(db.backend);
    for batch in [1usize, 10, 100, 500] {
        let mut seq = 0;
        let mut times = Vec::new();
        for round in 0..6 {
            let evs = events(round, batch, seq + 1_000_000 * batch as u64);
            seq += batch as u64;
            let t = Instant::now();
            let mut tx = db.pool.begin().await.unwrap();
            p.apply(&mut tx, &evs).await.unwrap();
            tx.commit().await.unwrap();
            times.push(t.elapsed().as_secs_f64() / batch as f64);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{label:<10} batch {batch:>4}: median {:>8.1} µs/event ({:>7.0} events/s)",
            times[3] * 1e6,
            1.0 / times[3]
        );
    }
}

#[tokio::main]
async fn main() {
    let sqlite = SqliteDatabase::new().unwrap();
    measure("sqlite", &sqlite.url).await;
    let pg = PgDatabase::new().await.unwrap();
    measure("postgres", &pg.url).await;
}
