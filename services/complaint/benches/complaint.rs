#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly
//! Measures (never asserts) the complaint service's read side on PostgreSQL:
//!
//! 1. analysis: `CASES` rows put straight into `cp_cases` (multi-row INSERTs; 60 days of cases,
//!    5 categories, 5 cities, 200,000 customers, 20,000 cars) and 60 days of `cp_order_days`,
//!    then each query of `AnalyzeComplaints` over the last 30 days — rates by city, channel and
//!    model, top categories and root causes with the period before, repeat customers and cars,
//!    SLA compliance with four percentiles, keywords of the top 5 categories, hot spots — p50 of
//!    5 each, and of all of them in a row (what one `AnalyzeComplaints` costs).
//! 2. the SLA due scan: `queries::due_cases(db, now, 500)` over `OPEN_CASES` open cases with a
//!    due time each (a fresh database), p50 of 5.
//!
//! Run: `cargo bench -p rentops-complaint --bench complaint` (needs PostgreSQL on 127.0.0.1:5432,
//! like the tests). Sizes: `CASES=1000000 OPEN_CASES=100000`.

use std::time::{Duration, Instant};

use rentops_complaint::projections::analysis::{self, Dimension};
use rentops_complaint::projections::queries;
use rentops_projection::Db;
use rentops_projection::db::{micros, values_rows};
use rentops_testkit::PgDatabase;
use sqlx::AssertSqlSafe;
use time::OffsetDateTime;
use time::macros::datetime;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The first case opens then; the analysis looks at the last 30 of 60 days.
const T0: OffsetDateTime = datetime!(2026-09-01 00:00 +8);
const CITIES: [&str; 5] = ["SHA", "PEK", "CAN", "SZX", "HGH"];
const CATEGORIES: [(&str, &str); 5] = [
    ("fulfilment", "late_handover"),
    ("vehicle", "cleanliness"),
    ("billing", "overcharge"),
    ("service", "staff_attitude"),
    ("safety", "accident"),
];
const CHANNELS: [&str; 4] = ["APP", "MINI_PROGRAM", "WEB", "CALL_CENTER"];
const MODELS: [&str; 8] = ["ET5", "ET5T", "ET7", "ES6", "EC6", "ES7", "EC7", "ES8"];
const ROOT_CAUSES: [&str; 4] = ["vehicle_not_prepared", "pricing_error", "staff_conduct", ""];
const TEXTS: [&str; 6] = [
    "取车时车里有垃圾，座椅很脏，没有清洁",
    "电量只有百分之二十，续航不够，充电站排队",
    "还车后多扣了押金，违章费用不对，要求退款",
    "客服态度很差，电话打了三次都没人回电",
    "送车上门迟到了两个小时，耽误了航班",
    "刹车有异响，开起来很危险，要求换车",
];

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn p50(runs: &[Duration]) -> (Duration, String) {
    let mut sorted = runs.to_vec();
    sorted.sort();
    let all: Vec<String> = runs.iter().map(|d| format!("{:.1}", ms(*d))).collect();
    (sorted[sorted.len() / 2], all.join(", "))
}

async fn migrated(url: &str) -> Db {
    let db = Db::connect(url).await.unwrap();
    db.migrate(
        &sqlx::migrate!("./migrations/sqlite"),
        &sqlx::migrate!("./migrations/postgres"),
    )
    .await
    .unwrap();
    db
}

/// `n` cases over 60 days; `open`: every one still open with a due time by `now`.
async fn fill_cases(db: &Db, n: usize, open: bool) -> Duration {
    let started = Instant::now();
    let chunk = 1000;
    let span_us = 60 * 86_400 * 1_000_000i64;
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO cp_cases (case_id, customer_id, order_id, vehicle_id, violation_id, claim_id, \
             charge_booking_id, channel, category, sub_category, severity, status, agent, root_cause, city, \
             vehicle_model, order_channel, opened_us, first_response_us, resolved_us, closed_us, reopened, \
             escalated, fr_spent_s, fr_met, res_spent_s, res_met, next_due_us, text, state, last_sequence) VALUES {}",
            values_rows(db.backend, end - start, 31, 0)
        )));
        for i in start..end {
            let opened = micros(T0) + (i as i64 * 7919 * 1_000_000) % span_us;
            let (category, sub) = CATEGORIES[(i * 31 + i / 1000) % CATEGORIES.len()];
            let done = !open && i % 10 != 0;
            let fr = (i as i64 * 37) % (50 * 3600);
            let res = (i as i64 * 101) % (8 * 86_400);
            q = q
                .bind(format!("{:032x}", i))
                .bind(format!("C{:06}", (i * 13) % 200_000))
                .bind(format!("O{:08}", i))
                .bind(format!("V{:05}", (i * 7) % 20_000))
                .bind(String::new())
                .bind(String::new())
                .bind(String::new())
                .bind(if i % 50 == 0 { "WEIBO" } else { "HOTLINE" }.to_owned())
                .bind(category.to_owned())
                .bind(sub.to_owned())
                .bind(["P1", "P2", "P3", "P4"][i % 4].to_owned())
                .bind(if done { "CLOSED" } else { "INVESTIGATING" }.to_owned())
                .bind(format!("desk:{}", i % 40))
                .bind(ROOT_CAUSES[i % ROOT_CAUSES.len()].to_owned())
                .bind(CITIES[i % CITIES.len()].to_owned())
                .bind(MODELS[i % MODELS.len()].to_owned())
                .bind(CHANNELS[i % CHANNELS.len()].to_owned())
                .bind(opened)
                .bind(done.then_some(opened + fr * 1_000_000))
                .bind(done.then_some(opened + res * 1_000_000))
                .bind(done.then_some(opened + res * 1_000_000))
                .bind(0_i64)
                .bind(i64::from(i % 17 == 0))
                .bind(done.then_some(fr))
                .bind(done.then_some(i64::from(fr <= 24 * 3600)))
                .bind(done.then_some(res))
                .bind(done.then_some(i64::from(res <= 5 * 86_400)))
                .bind((!done).then_some(opened + 3_600_000_000))
                .bind(TEXTS[(i * 31 + i / 1000) % CATEGORIES.len() + usize::from(i % 3 == 0)].to_owned())
                .bind("{}".to_owned())
                .bind(i as i64 + 1);
        }
        q.execute(&db.pool).await.unwrap();
    }
    let d = started.elapsed();
    // What autovacuum does soon after a bulk load.
    sqlx::query("VACUUM ANALYZE cp_cases").execute(&db.pool).await.unwrap();
    d
}

async fn fill_orders(db: &Db) {
    let mut rows = Vec::new();
    for day in 0..60 {
        let date = (T0 + time::Duration::days(day)).date();
        for city in CITIES {
            for channel in CHANNELS {
                for model in MODELS {
                    rows.push((date.to_string(), city, channel, model));
                }
            }
        }
    }
    for part in rows.chunks(1000) {
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO cp_order_days (day, city, channel, model, orders) VALUES {}",
            values_rows(db.backend, part.len(), 5, 0)
        )));
        for (day, city, channel, model) in part {
            q = q
                .bind(day.clone())
                .bind((*city).to_owned())
                .bind((*channel).to_owned())
                .bind((*model).to_owned())
                .bind(120_i64);
        }
        q.execute(&db.pool).await.unwrap();
    }
}

macro_rules! time5 {
    ($label:expr, $what:expr) => {{
        let mut runs = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let _ = $what;
            runs.push(t.elapsed());
        }
        let (p, all) = p50(&runs);
        println!("   {:<34} p50 {:>8.1} ms  (runs: {all})", $label, ms(p));
        p
    }};
}

#[tokio::main]
async fn main() {
    rentops_testkit::init_tracing();
    let cases = env_usize("CASES", 1_000_000);
    let open_cases = env_usize("OPEN_CASES", 100_000);
    let kw = rentops_insight::Keywords::new(&[]);

    println!("1. analysis over {cases} cases on PostgreSQL");
    let pg = PgDatabase::new().await.expect("PostgreSQL (127.0.0.1:5432)");
    let db = migrated(&pg.url).await;
    let filled = fill_cases(&db, cases, false).await;
    fill_orders(&db).await;
    println!(
        "   filled in {:.1} s ({:.0} rows/s)",
        filled.as_secs_f64(),
        cases as f64 / filled.as_secs_f64()
    );
    let from = T0 + time::Duration::days(30);
    let to = T0 + time::Duration::days(60);
    let names: Vec<String> = CATEGORIES.iter().map(|(c, _)| (*c).to_owned()).collect();
    let mut total = Duration::ZERO;
    total += time5!(
        "rates by city",
        analysis::rates(&db, from, to, Dimension::City).await.unwrap()
    );
    total += time5!(
        "rates by channel",
        analysis::rates(&db, from, to, Dimension::Channel).await.unwrap()
    );
    total += time5!(
        "rates by model",
        analysis::rates(&db, from, to, Dimension::Model).await.unwrap()
    );
    total += time5!(
        "top categories (+ before)",
        analysis::trends(&db, "category", from, to, 10).await.unwrap()
    );
    total += time5!(
        "top root causes (+ before)",
        analysis::trends(&db, "root_cause", from, to, 10).await.unwrap()
    );
    total += time5!(
        "repeat customers",
        analysis::repeats(&db, "customer_id", from, to, 2, 20).await.unwrap()
    );
    total += time5!(
        "repeat vehicles",
        analysis::repeats(&db, "vehicle_id", from, to, 2, 20).await.unwrap()
    );
    total += time5!(
        "SLA compliance + 4 percentiles",
        analysis::sla(&db, from, to).await.unwrap()
    );
    total += time5!(
        "keywords of 5 categories",
        analysis::keywords(&db, &kw, from, to, &names, 10).await.unwrap()
    );
    total += time5!("hot spots", analysis::hot_spots(&db, from, to).await.unwrap());
    let sequential = time5!("all of them one after another", {
        analysis::rates(&db, from, to, Dimension::City).await.unwrap();
        analysis::rates(&db, from, to, Dimension::Channel).await.unwrap();
        analysis::rates(&db, from, to, Dimension::Model).await.unwrap();
        analysis::trends(&db, "category", from, to, 10).await.unwrap();
        analysis::trends(&db, "root_cause", from, to, 10).await.unwrap();
        analysis::repeats(&db, "customer_id", from, to, 2, 20).await.unwrap();
        analysis::repeats(&db, "vehicle_id", from, to, 2, 20).await.unwrap();
        analysis::sla(&db, from, to).await.unwrap();
        analysis::keywords(&db, &kw, from, to, &names, 10).await.unwrap();
        analysis::hot_spots(&db, from, to).await.unwrap()
    });
    let whole = time5!(
        "AnalyzeComplaints (report: at once)",
        analysis::report(&db, &kw, from, to, 10, 2).await.unwrap()
    );
    println!("   one after another p50 {:.1} ms", ms(sequential));
    println!(
        "   sum of the p50s {:.1} ms; the whole analysis p50 {:.1} ms (goal < 500 ms per query)",
        ms(total),
        ms(whole)
    );

    println!("2. the SLA due scan over {open_cases} open cases on PostgreSQL");
    let pg2 = PgDatabase::new().await.unwrap();
    let db2 = migrated(&pg2.url).await;
    let filled = fill_cases(&db2, open_cases, true).await;
    println!("   filled in {:.1} s", filled.as_secs_f64());
    let now = T0 + time::Duration::days(61);
    time5!("due_cases(now, 500)", {
        let found = queries::due_cases(&db2, now, 500).await.unwrap();
        assert_eq!(found.len(), 500.min(open_cases));
        found
    });
}
