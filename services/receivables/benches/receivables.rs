#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly
//! Measures (never asserts) the receivables service on one nats-server, in one run:
//!
//! 1. import: `HIRES` hires (OrderPlaced, VehiclePickedUp, VehicleReturned on the ORDER stream,
//!    `CARS` cars registered on the FLEET stream, several hires each) appended and projected
//!    first; then `VIOLATIONS` records through the `ImportViolations` client stream in messages
//!    of `BATCH`, end to end until the call returns and the receivables projection has applied
//!    the import's last sequence; against raw JetStream appends of the same number of events
//!    (`ViolationRecorded` + `ViolationMatched` as the service's codec encodes them, each with the
//!    expected-last-subject-sequence check, one at a time as the import does them). Then, over
//!    the imported violations, full passes of the ladder's scan over 500 due steps.
//! 2. ageing: `GetAging` over `AGING_ENTRIES` ledger items (multi-row INSERTs into `rx_items`
//!    and `rx_matches`, and the open-amount deltas they mean into `rx_open_deltas`) on
//!    PostgreSQL, p50 of 5; checked once against the item-by-item SQL the report ran before.
//! 3. statement: `GetStatement` of one customer with `STATEMENT_ENTRIES` bookings made through
//!    the ledger aggregate (its command handler), p50 of 5, on SQLite and PostgreSQL: its first
//!    page (50 lines, the open items, the CSV), and all of it in pages of 500. Also the size of
//!    the ledger's snapshot state after the bookings.
//! 4. the ladder's due-step scan: `queries::due_steps(db, now, 500)` over `LADDER_VIOLATIONS`
//!    rows of `rx_violations` (multi-row INSERTs), p50 of 5, on SQLite and PostgreSQL.
//!
//! Run: `cargo bench -p rentops-receivables --bench receivables` (needs deploy/local/install-nats.sh
//! and PostgreSQL, like the tests). Sizes: `HIRES=50000 VIOLATIONS=100000 BATCH=1000`,
//! `CARS=HIRES/10`, `CUSTOMERS=20000`, `AGING_ENTRIES=1000000 AGING_CUSTOMERS=100000`,
//! `STATEMENT_ENTRIES=10000`, `LADDER_VIOLATIONS=100000`. `FIGURES=1,2,3,4` runs only those.
//! `IMPORT_BUDGET_SECS=600`: the import stops sending records then (it is timed over what it
//! imported, and says so).
//!
//! Order of the run: the statement's bookings first, on a service over SQLite (the stream is
//! empty then); then a service over PostgreSQL on the same nats-server, whose projection reads
//! those bookings back from the stream, for the import, the ladder passes, the ageing report
//! and the statement on PostgreSQL; the due-step scan last, on fresh databases of its own.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use futures::StreamExt as _;
use prost::Message as _;
use rentops_eventstore::{CommandMeta, EventMeta, NewEvent, StreamSettings};
use rentops_kernel::Snapshot;
use rentops_kernel::{Calendar, CityCode, CustomerId, Fen, OrderId, Plate};
use rentops_ledger::{Action, BookingId, ChargeKind, ChargeLine, LedgerCommand, Role};
use rentops_projection::Db;
use rentops_projection::db::{micros, values_rows};
use rentops_proto::common::{CommandContext, Money};
use rentops_proto::receivables as pb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use rentops_proto::timestamp::to_timestamp;
use rentops_proto::{fleet as fpb, order as opb};
use rentops_receivables::app::{self, App};
use rentops_receivables::domain::LedgerAggregate;
use rentops_receivables::domain::ledger::date_text;
use rentops_receivables::domain::{
    Ladder, Match, Record, Responsibility, Step, Violation, ViolationAggregate, ViolationEvent,
};
use rentops_receivables::projections::queries;
use rentops_receivables::reactors;
use rentops_runtime::ManualClock;
use rentops_testkit::{InProcess, NatsServer, PgDatabase, SqliteDatabase};
use sqlx::AssertSqlSafe;
use time::OffsetDateTime;
use time::macros::datetime;
use tonic::transport::Channel;

/// The allocator the service binary runs with (services/receivables/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The first hire starts then; every hire is over well before [`now`].
const T0: OffsetDateTime = datetime!(2026-01-05 08:00 UTC);
const CITIES: [&str; 5] = ["SHA", "PEK", "CAN", "SZX", "HGH"];
const STATEMENT_CUSTOMER: &str = "C-STATEMENT";

/// The service's clock through the run: after every hire, every booking and every due date.
fn now() -> OffsetDateTime {
    T0 + time::Duration::days(400)
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median of `runs`, and all of them in the order they ran (for the log).
fn p50(runs: &[Duration]) -> (Duration, String) {
    let mut sorted = runs.to_vec();
    sorted.sort();
    let all: Vec<String> = runs.iter().map(|d| format!("{:.1}", ms(*d))).collect();
    (sorted[sorted.len() / 2], all.join(", "))
}

fn ctx(request_id: String) -> Option<CommandContext> {
    Some(CommandContext {
        request_id,
        actor: "desk:bench".into(),
        correlation_id: String::new(),
    })
}

fn cny(fen: i64) -> Option<Money> {
    Some(Money {
        amount_fen: fen,
        currency: "CNY".into(),
    })
}

// ---- the world: cars, hires, customers ------------------------------------------------------

#[derive(Clone, Copy)]
struct World {
    hires: usize,
    cars: usize,
    customers: usize,
}

/// One hire: its car, when the car went out and came back.
struct Hire {
    car: usize,
    from: OffsetDateTime,
    to: OffsetDateTime,
}

impl World {
    fn hires_per_car(&self) -> usize {
        self.hires.div_ceil(self.cars)
    }

    /// A car's year is cut into as many slots as it has hires; each hire takes 5 % to 20 % of
    /// its slot (1.8 to 7.2 days with 10 hires a car), so the car stands between hires.
    fn slot(&self) -> time::Duration {
        time::Duration::minutes(360 * 1440 / self.hires_per_car() as i64)
    }

    fn hire(&self, h: usize) -> Hire {
        let car = h % self.cars;
        let j = (h / self.cars) as i32;
        let slot = self.slot();
        let from = T0 + slot * j + time::Duration::minutes((car * 13 % 60) as i64);
        let to = from + slot * (1 + (h % 4) as i32) / 20 + time::Duration::minutes((h % 600) as i64);
        Hire { car, from, to }
    }

    fn customer(&self, h: usize) -> String {
        format!("C{:06}", h % self.customers)
    }
}

fn plate(car: usize) -> String {
    format!("沪AD{:05}", car % 100_000)
}

fn vehicle_id(car: usize) -> String {
    format!("V{car:06}")
}

/// A v7-shaped order id the kernel accepts.
fn order_id(n: usize) -> String {
    format!("0190a1a2-0000-7000-8000-{n:012}")
}

fn city(h: usize) -> &'static str {
    CITIES[h % CITIES.len()]
}

/// The envelope the other services write on their events (so the bytes are theirs).
fn envelope(service: &str, name: &str, id: &str, at: OffsetDateTime, request_id: &str) -> HeaderMap {
    let meta = EventMeta {
        event_id: uuid::Uuid::now_v7(),
        event_type: format!("rentops.{service}.v1.{name}"),
        source: service.to_owned(),
        aggregate_id: id.to_owned(),
        time: at,
        correlation_id: request_id.to_owned(),
        causation_id: request_id.to_owned(),
        actor: "bench".into(),
        request_id: request_id.to_owned(),
    };
    let mut h = HeaderMap::new();
    meta.write_headers(&mut h);
    h
}

/// Publishes `messages` with up to 512 acknowledgements outstanding; returns the last sequence.
async fn publish_all(
    js: &async_nats::jetstream::Context,
    messages: impl Iterator<Item = (String, HeaderMap, Vec<u8>)>,
) -> u64 {
    let mut acks = futures::stream::FuturesUnordered::new();
    let mut last = 0;
    for (subject, headers, payload) in messages {
        let ack = js.publish_with_headers(subject, headers, payload.into()).await.unwrap();
        acks.push(std::future::IntoFuture::into_future(ack));
        if acks.len() >= 512 {
            last = last.max(acks.next().await.unwrap().unwrap().sequence);
        }
    }
    while let Some(a) = acks.next().await {
        last = last.max(a.unwrap().sequence);
    }
    last
}

fn ts(t: OffsetDateTime) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t))
}

/// The order service's events of every hire, and fleet's registration of every car.
async fn append_hires(js: &async_nats::jetstream::Context, w: World) -> (u64, u64) {
    let registered = T0 - time::Duration::days(30);
    let fleet = (0..w.cars).map(|car| {
        let id = vehicle_id(car);
        let m = fpb::VehicleRegistered {
            vehicle_id: id.clone(),
            vin: format!("LVIN{car:013}"),
            plate: plate(car),
            city: city(car).into(),
            home_station: format!("{}-01", city(car)),
            registered_at: ts(registered),
            ..Default::default()
        };
        (
            format!("rentops.fleet.vehicle.{id}.VehicleRegistered"),
            envelope("fleet", "VehicleRegistered", &id, registered, &format!("reg-{car}")),
            m.encode_to_vec(),
        )
    });
    let fleet_last = publish_all(js, fleet).await;
    let orders = (0..w.hires).flat_map(|h| {
        let hire = w.hire(h);
        let id = order_id(h);
        let placed_at = hire.from - time::Duration::days(2);
        let subject = |name: &str| format!("rentops.order.order.{id}.{name}");
        let rid = format!("hire-{h}");
        let placed = opb::OrderPlaced {
            order_id: id.clone(),
            customer: Some(opb::Customer {
                customer_id: w.customer(h),
                name: "王芳".into(),
                phone: format!("138{:08}", h % w.customers),
            }),
            city: city(h).into(),
            placed_at: ts(placed_at),
            // No violation deposit: the deposits' scan would book a hold per hire meanwhile.
            ..Default::default()
        };
        let picked = opb::VehiclePickedUp {
            order_id: id.clone(),
            picked_up_at: ts(hire.from),
            vehicle_id: vehicle_id(hire.car),
            plate: plate(hire.car),
            odometer_km: 100,
            charge_percent: 90,
            ..Default::default()
        };
        let returned = opb::VehicleReturned {
            order_id: id.clone(),
            returned_at: ts(hire.to),
            odometer_km: 300,
            charge_percent: 40,
            ..Default::default()
        };
        [
            (
                subject("OrderPlaced"),
                envelope("order", "OrderPlaced", &id, placed_at, &format!("{rid}-1")),
                placed.encode_to_vec(),
            ),
            (
                subject("VehiclePickedUp"),
                envelope("order", "VehiclePickedUp", &id, hire.from, &format!("{rid}-2")),
                picked.encode_to_vec(),
            ),
            (
                subject("VehicleReturned"),
                envelope("order", "VehicleReturned", &id, hire.to, &format!("{rid}-3")),
                returned.encode_to_vec(),
            ),
        ]
    });
    let order_last = publish_all(js, orders).await;
    (order_last, fleet_last)
}

/// Where record `k` falls: 2 % on plates no car carried, 8 % on a known car between hires, the
/// rest inside a hire. The hires are visited in a scattered order, as a feed would give them.
enum Where {
    Inside(usize),
    Between(usize),
    Unknown,
}

fn where_of(k: usize, w: World) -> (Where, String, OffsetDateTime) {
    let h = (k * 7919 + 13) % w.hires;
    let hire = w.hire(h);
    match k % 50 {
        0 => (
            Where::Unknown,
            format!("沪BD{:05}", (k / 50) % 100_000),
            T0 + time::Duration::minutes((k % 500_000) as i64),
        ),
        1..=4 => (
            Where::Between(h),
            plate(hire.car),
            hire.to + w.slot() / 4 + time::Duration::minutes((k % 720) as i64),
        ),
        _ => {
            let minutes = (hire.to - hire.from).whole_minutes().max(2);
            let offset = (k as i64 * 37 + 11) % (minutes - 1) + 1;
            (
                Where::Inside(h),
                plate(hire.car),
                hire.from + time::Duration::minutes(offset),
            )
        }
    }
}

fn record_pb(k: usize, w: World) -> pb::ViolationRecord {
    let (_, plate, at) = where_of(k, w);
    pb::ViolationRecord {
        plate,
        plate_type: "52".into(),
        offence_at: ts(at),
        place: format!("延安高架路{}号", k % 997),
        offence_code: "1625".into(),
        offence_text: "违反禁令标志指示".into(),
        fine: cny(20_000),
        points: 3,
        handled: false,
        authority_ref: format!("SH310{k:012}"),
        line: (k + 1) as u32,
        source: "bench-feed".into(),
    }
}

/// Record `k` as the domain holds it (for the raw baseline's events).
fn record_domain(k: usize, w: World, received_at: OffsetDateTime) -> Record {
    let r = record_pb(k, w);
    Record {
        plate: Plate::parse(&r.plate).unwrap(),
        plate_kind: r.plate_type,
        offence_at: rentops_proto::timestamp::from_timestamp(&r.offence_at.unwrap()).unwrap(),
        place: r.place,
        offence_code: r.offence_code,
        offence_text: r.offence_text,
        fine: Fen(20_000),
        points: r.points,
        authority_ref: r.authority_ref,
        source: r.source,
        received_at,
        handled: false,
    }
}

fn renter_match(h: usize, w: World, at: OffsetDateTime) -> Match {
    Match {
        responsibility: Responsibility::Renter,
        order_id: order_id(h),
        customer_id: w.customer(h),
        customer_phone: format!("138{:08}", h % w.customers),
        city: city(h).into(),
        vehicle_id: vehicle_id(w.hire(h).car),
        person_id: String::new(),
        matched_at: at,
        resolved_by: String::new(),
        reason: String::new(),
    }
}

/// Baseline: for each record, its `ViolationRecorded` and `ViolationMatched` appended one after
/// the other with the expected-sequence check, one record after another as the import goes, on
/// a stream of its own (the service's settings, another name) so that nothing projects them.
/// No gRPC, no decision, no matching queries, no projection.
async fn raw_appends(js: &async_nats::jetstream::Context, violations: usize, w: World) -> (usize, Duration) {
    let settings = StreamSettings::for_service("rawbench", 1);
    rentops_eventstore::ensure_stream(js, &settings).await.unwrap();
    let at = now();
    let started = Instant::now();
    let mut events = 0;
    for k in 0..violations {
        let record = record_domain(k, w, at);
        let id = record.violation_id();
        let h = match where_of(k, w).0 {
            Where::Inside(h) | Where::Between(h) => h,
            Where::Unknown => k % w.hires,
        };
        let filter = format!("rentops.rawbench.violation.{id}.*");
        let mut last = 0;
        for e in [
            ViolationEvent::Recorded { id: id.clone(), record },
            ViolationEvent::Matched(renter_match(h, w, at)),
        ] {
            let encoded = NewEvent::encoded::<ViolationAggregate>(&e);
            let mut headers = envelope(
                "receivables",
                encoded.name,
                &id,
                at,
                &format!("raw-{k}-{}", encoded.name),
            );
            headers.insert("Nats-Expected-Last-Subject-Sequence", last.to_string().as_str());
            headers.insert("Nats-Expected-Last-Subject-Sequence-Subject", filter.as_str());
            let subject = format!("rentops.rawbench.violation.{id}.{}", encoded.name);
            let ack = js
                .publish_with_headers(subject, headers, encoded.payload.clone())
                .await
                .unwrap()
                .await
                .unwrap();
            last = ack.sequence;
            events += 1;
        }
    }
    (events, started.elapsed())
}

// ---- the service ------------------------------------------------------------------------------

async fn start(nats: &NatsServer, db_url: &str, clock: Arc<ManualClock>) -> InProcess<App> {
    let env = vec![
        ("RENTOPS_NATS_URL".to_owned(), nats.url()),
        ("RENTOPS_DATABASE_URL".to_owned(), db_url.to_owned()),
        ("RENTOPS_RECEIVABLES_LADDER_SCAN_SECS".to_owned(), "5".to_owned()),
    ];
    rentops_testkit::start_in_process(app::start, clock, env)
        .await
        .expect("receivables starts")
}

async fn client(url: &str) -> ReceivablesServiceClient<Channel> {
    ReceivablesServiceClient::connect(url.to_owned())
        .await
        .unwrap()
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX)
}

async fn stream_last(js: &async_nats::jetstream::Context, name: &str) -> u64 {
    let mut stream = js.get_stream(name).await.unwrap();
    stream.info().await.unwrap().state.last_sequence
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_owned()))
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// Waits until `sql` (a count) is zero; returns how long that took.
async fn until_zero(db: &Db, sql: &str, limit: Duration) -> Duration {
    let t = Instant::now();
    while count(db, sql).await > 0 {
        assert!(t.elapsed() < limit, "still not zero after {limit:?}: {sql}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.elapsed()
}

const LONG: Duration = Duration::from_secs(3600);

// ---- 3. the statement's bookings --------------------------------------------------------------

/// `n` bookings on one customer's ledger through its command handler: three charges (a fine and
/// its service fee) for every two payments (each less than a charge, so many charges stay
/// partly paid), twenty minutes apart. Returns the last sequence and the time it took.
async fn book_statement(app: &App, n: usize) -> (u64, Duration) {
    let customer = CustomerId::parse(STATEMENT_CUSTOMER).unwrap();
    let first = now() - time::Duration::days(150);
    let started = Instant::now();
    let tenth = (n / 10).max(1);
    let mut tenths = Vec::new();
    let mut lap = Instant::now();
    let mut last = 0;
    for i in 0..n {
        let at = first + time::Duration::minutes(20 * i as i64);
        let action = if i % 5 < 3 {
            Action::Charge {
                lines: vec![
                    ChargeLine {
                        kind: ChargeKind::Fine,
                        amount: Fen(20_000),
                    },
                    ChargeLine {
                        kind: ChargeKind::ServiceFee,
                        amount: Fen(5_000),
                    },
                ],
                due: at.date() + time::Duration::days(15),
                about: format!("v-bench-{i}"),
                order: OrderId::parse(&order_id(900_000_000 + i)).ok(),
                city: CityCode::parse("SHA").unwrap(),
            }
        } else {
            Action::Pay {
                amount: Fen(15_000),
                reference: format!("WX-PAY-{i:08}"),
                pays: None,
            }
        };
        let command = LedgerCommand {
            customer: customer.clone(),
            booking: BookingId(uuid::Uuid::new_v4()),
            at,
            roles: vec![Role::Supervisor, Role::Finance],
            memo: format!("bench booking {i}"),
            action,
        };
        let meta = CommandMeta {
            request_id: format!("bench-book-{i}"),
            fingerprint: None,
            correlation_id: format!("bench-book-{i}"),
            causation_id: format!("bench-book-{i}"),
            actor: "finance:bench".into(),
            time: at,
        };
        let done = app
            .ledgers
            .execute(customer.as_str(), &meta, &command, i == 0)
            .await
            .unwrap();
        last = done.sequence;
        if (i + 1) % tenth == 0 {
            tenths.push(format!("{:.0}", tenth as f64 / lap.elapsed().as_secs_f64()));
            lap = Instant::now();
        }
    }
    println!("   bookings per s, by tenth of the run: {}", tenths.join(", "));
    (last, started.elapsed())
}

/// Where a statement's time goes, without gRPC: the read model's first page of 50 lines, the
/// statement's last line (balance and totals), the open items (each the median of 3); and, for
/// comparison, the fold of the customer's events the statement was computed from before.
async fn statement_parts(label: &str, db: &Db) {
    let (mut page, mut end, mut open, mut fold) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let as_of = now().date();
    for _ in 0..3 {
        let t = Instant::now();
        queries::statement_page(db, STATEMENT_CUSTOMER, as_of, 50, "")
            .await
            .unwrap();
        page.push(t.elapsed());
        let t = Instant::now();
        queries::statement_end(db, STATEMENT_CUSTOMER, as_of).await.unwrap();
        end.push(t.elapsed());
        let t = Instant::now();
        queries::open_items(db, STATEMENT_CUSTOMER, as_of, true).await.unwrap();
        open.push(t.elapsed());
        let t = Instant::now();
        let events = queries::ledger_events(db, STATEMENT_CUSTOMER).await.unwrap();
        rentops_ledger::statement(&events, as_of).unwrap().to_csv().unwrap();
        fold.push(t.elapsed());
    }
    println!(
        "   {label} without gRPC: statement_page(50) {:.1} ms, statement_end {:.1} ms, open_items {:.1} ms; \
         (before: read + fold the events + CSV {:.1} ms)",
        ms(p50(&page).0),
        ms(p50(&end).0),
        ms(p50(&open).0),
        ms(p50(&fold).0)
    );
}

/// `GetStatement` of the statement customer, 5 times: its first page (the default 50 lines,
/// the open items and the CSV). Then the whole statement paged through at 500 lines a page, 5
/// times. The lines of the first page, its size, the p50 and runs of both.
async fn time_statement(
    c: &mut ReceivablesServiceClient<Channel>,
) -> (usize, usize, Duration, String, usize, Duration, String) {
    let mut runs = Vec::new();
    let mut lines = 0;
    let mut bytes = 0;
    let request = |token: String, size: u32| pb::GetStatementRequest {
        customer_id: STATEMENT_CUSTOMER.into(),
        as_of: String::new(),
        consistency: None,
        page: Some(rentops_proto::common::PageRequest {
            page_size: size,
            page_token: token,
        }),
    };
    for _ in 0..5 {
        let t = Instant::now();
        let s = c.get_statement(request(String::new(), 0)).await.unwrap().into_inner();
        runs.push(t.elapsed());
        lines = s.lines.len();
        bytes = s.encoded_len();
    }
    let mut whole = Vec::new();
    let mut all_lines = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let mut token = String::new();
        all_lines = 0;
        loop {
            let s = c.get_statement(request(token, 500)).await.unwrap().into_inner();
            all_lines += s.lines.len();
            token = s.page.unwrap_or_default().next_page_token;
            if token.is_empty() {
                break;
            }
        }
        whole.push(t.elapsed());
    }
    let (p, all) = p50(&runs);
    let (wp, wall) = p50(&whole);
    (lines, bytes, p, all, all_lines, wp, wall)
}

// ---- 2. the ageing report's ledger ------------------------------------------------------------

/// `entries` debit items over `customers` customers and the cities, due over the 200 days before
/// the report's date and 20 after; about 1 % reversed; 40 % partly paid, 10 % paid in full, a
/// few of those payments released again. Multi-row INSERTs of 1,000 rows into `rx_items` and
/// `rx_matches`, and the open-amount deltas per city, due date and day those rows mean
/// (`rx_open_deltas`, as the projector writes them; the per-item changes the statement reads
/// are not filled: the ageing report does not read them).
async fn fill_ledger(db: &Db, entries: usize, customers: usize) -> (usize, Duration) {
    let started = Instant::now();
    let as_of = now().date();
    let mut matches = 0;
    let chunk = 1000;
    let mut deltas: std::collections::HashMap<(String, String, String), i64> = Default::default();
    for start in (0..entries).step_by(chunk) {
        let end = (start + chunk).min(entries);
        let rows = end - start;
        let mut items = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO rx_items (booking_id, customer_id, kind, amount_fen, due, city, order_id, reference, \
             booked_day, reversed_day) VALUES {}",
            values_rows(db.backend, rows, 10, 0)
        )));
        let mut paid: Vec<(String, String, i64, String, Option<String>)> = Vec::new();
        for i in start..end {
            let due = as_of - time::Duration::days(((i * 7919) % 220) as i64 - 20);
            let booked = due - time::Duration::days((i % 15) as i64);
            let booked = booked.min(as_of);
            let amount = 5_000 + ((i * 131) % 45_000) as i64;
            let id = format!("00000000-0000-4000-8000-{i:012}");
            let reversed = (i % 100 == 7).then(|| date_text((booked + time::Duration::days(3)).min(as_of)));
            let city = CITIES[(i / 7) % CITIES.len()];
            items = items
                .bind(id.clone())
                .bind(format!("C{:06}", i % customers))
                .bind("charge".to_owned())
                .bind(amount)
                .bind(date_text(due))
                .bind(city.to_owned())
                .bind(order_id(i))
                .bind(format!("v{i:015}"))
                .bind(date_text(booked))
                .bind(reversed.clone());
            let applied = date_text((booked + time::Duration::days(5)).min(as_of));
            // What is open of the item at the end of a day, as the rows say it: booked and not yet
            // reversed, less its match while applied and not released.
            let matched = match i % 10 {
                0..=3 => Some((amount / 2, applied.clone(), (i % 200 == 1).then(|| date_text(as_of)))),
                4 => Some((amount, applied.clone(), None)),
                _ => None,
            };
            let booked_text = date_text(booked);
            let open_on = |d: &str| -> i64 {
                if d < booked_text.as_str() || reversed.as_deref().is_some_and(|r| d >= r) {
                    return 0;
                }
                match &matched {
                    Some((m, a, x)) if d >= a.as_str() && x.as_deref().is_none_or(|x| d < x) => amount - m,
                    _ => amount,
                }
            };
            let mut days: Vec<String> = vec![booked_text.clone()];
            days.extend(reversed.clone());
            if let Some((_, a, x)) = &matched {
                days.push(a.clone());
                days.extend(x.clone());
            }
            days.sort();
            days.dedup();
            let mut before = 0;
            for d in days {
                let open = open_on(&d);
                if open != before {
                    *deltas.entry((city.to_owned(), date_text(due), d)).or_default() += open - before;
                }
                before = open;
            }
            match i % 10 {
                0..=3 => paid.push((
                    id,
                    format!("00000000-0000-4000-9000-{i:012}"),
                    amount / 2,
                    applied,
                    (i % 200 == 1).then(|| date_text(as_of)),
                )),
                4 => paid.push((id, format!("00000000-0000-4000-9000-{i:012}"), amount, applied, None)),
                _ => {}
            }
        }
        items.execute(&db.pool).await.unwrap();
        if !paid.is_empty() {
            let mut q = sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO rx_matches (debit_id, credit_id, amount_fen, applied_day, released_day) VALUES {}",
                values_rows(db.backend, paid.len(), 5, 0)
            )));
            matches += paid.len();
            for (debit, credit, amount, applied, released) in paid {
                q = q.bind(debit).bind(credit).bind(amount).bind(applied).bind(released);
            }
            q.execute(&db.pool).await.unwrap();
        }
    }
    let deltas: Vec<_> = deltas.into_iter().filter(|(_, d)| *d != 0).collect();
    for part in deltas.chunks(chunk) {
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO rx_open_deltas (city, due, day, delta_fen) VALUES {} ON CONFLICT (city, due, day) \
             DO UPDATE SET delta_fen = rx_open_deltas.delta_fen + excluded.delta_fen",
            values_rows(db.backend, part.len(), 4, 0)
        )));
        for ((city, due, day), delta) in part {
            q = q.bind(city.clone()).bind(due.clone()).bind(day.clone()).bind(*delta);
        }
        q.execute(&db.pool).await.unwrap();
    }
    (matches, started.elapsed())
}

// ---- 4. the ladder's due steps ----------------------------------------------------------------

/// `n` open violations in `rx_violations`, their next step due over the 30 days before and the
/// 30 days after `now()` (so about half are due), each row with a real violation's state.
/// Multi-row INSERTs of 500 rows.
async fn fill_violations(db: &Db, n: usize) -> Duration {
    let started = Instant::now();
    let at = now();
    let w = World {
        hires: 50_000,
        cars: 5_000,
        customers: 20_000,
    };
    let state = {
        let record = record_domain(7, w, at);
        let v = Violation {
            id: record.violation_id(),
            record: Some(record),
            matched: Some(renter_match(7, w, at)),
            ..Default::default()
        };
        serde_json::to_string(&v).unwrap()
    };
    let steps = [
        Step::Notice,
        Step::Reminder,
        Step::FinalReminder,
        Step::Deadline,
        Step::Charge,
    ];
    let chunk = 500;
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO rx_violations (violation_id, plate_key, plate, offence_us, status, city, customer_id, \
             order_id, next_step, next_due_us, rematchable, state, last_sequence, updated_at_us) VALUES {}",
            values_rows(db.backend, end - start, 14, 0)
        )));
        for i in start..end {
            let p = Plate::parse(&plate(i % 5_000)).unwrap();
            let due = at - time::Duration::days(30) + time::Duration::minutes(((i * 7919) % (60 * 1440)) as i64);
            q = q
                .bind(format!("v{i:032x}"))
                .bind(p.key())
                .bind(p.to_string())
                .bind(micros(due - time::Duration::days(20)))
                .bind("OPEN".to_owned())
                .bind(CITIES[i % CITIES.len()].to_owned())
                .bind(format!("C{:06}", i % 20_000))
                .bind(order_id(i))
                .bind(steps[i % steps.len()].code().to_owned())
                .bind(micros(due))
                .bind(1_i64)
                .bind(state.clone())
                .bind(i as i64 + 1)
                .bind(micros(at));
        }
        q.execute(&db.pool).await.unwrap();
    }
    started.elapsed()
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

async fn due_scan(label: &str, db: &Db, n: usize) -> (Duration, String) {
    let filled = fill_violations(db, n).await;
    let due = count(
        db,
        &format!(
            "SELECT COUNT(*) FROM rx_violations WHERE next_due_us IS NOT NULL AND next_due_us <= {}",
            micros(now())
        ),
    )
    .await;
    println!(
        "   {label}: {n} rows filled in {:.1} s ({:.0} rows/s), {due} due at the scan's time",
        filled.as_secs_f64(),
        n as f64 / filled.as_secs_f64()
    );
    if db.backend == rentops_projection::Backend::Postgres {
        // What autovacuum does soon after a bulk load (the service never runs it on SQLite).
        sqlx::query("VACUUM ANALYZE rx_violations")
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let mut runs = Vec::new();
    let mut found = 0;
    for _ in 0..5 {
        let t = Instant::now();
        found = queries::due_steps(db, now(), 500).await.unwrap().len();
        runs.push(t.elapsed());
    }
    let (p, all) = p50(&runs);
    println!(
        "   {label}: due_steps(now, 500) found {found}: p50 {:.2} ms  (runs: {all} ms; goal < 1 s)",
        ms(p)
    );
    (p, all)
}

// ---- the run ----------------------------------------------------------------------------------

#[tokio::main]
async fn main() {
    rentops_testkit::init_tracing();
    let w = World {
        hires: env_usize("HIRES", 50_000).max(1),
        cars: 0,
        customers: env_usize("CUSTOMERS", 20_000).max(1),
    };
    let w = World {
        cars: env_usize("CARS", w.hires.div_ceil(10)).clamp(1, 100_000),
        ..w
    };
    let violations = env_usize("VIOLATIONS", 100_000);
    let batch = env_usize("BATCH", 1000).clamp(1, 1000);
    let aging_entries = env_usize("AGING_ENTRIES", 1_000_000);
    let aging_customers = env_usize("AGING_CUSTOMERS", 100_000).max(1);
    let statement_entries = env_usize("STATEMENT_ENTRIES", 10_000).max(1);
    let ladder_rows = env_usize("LADDER_VIOLATIONS", 100_000);
    let import_budget = Duration::from_secs(env_usize("IMPORT_BUDGET_SECS", 600) as u64);
    let figures: BTreeSet<u32> = std::env::var("FIGURES")
        .unwrap_or_else(|_| "1,2,3,4".into())
        .split(',')
        .filter_map(|f| f.trim().parse().ok())
        .collect();

    let nats = NatsServer::start()
        .await
        .expect("nats-server (run deploy/local/install-nats.sh)");
    let nc = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(nc);
    // The other services' streams first, as in a running cluster.
    for service in ["order", "fleet"] {
        rentops_eventstore::ensure_stream(&js, &StreamSettings::for_service(service, 1))
            .await
            .unwrap();
    }
    println!("receivables benchmark, nats-server at {}", nats.url());
    let mut summary: Vec<String> = Vec::new();

    // 3, on SQLite: the bookings, made while the receivables stream is otherwise empty.
    let mut statement_sqlite = None;
    if figures.contains(&3) {
        let sqlite = SqliteDatabase::new().unwrap();
        let s = start(&nats, &sqlite.url, ManualClock::at(now())).await;
        let (last, took) = book_statement(&s.app, statement_entries).await;
        println!(
            "3. {statement_entries} bookings on {STATEMENT_CUSTOMER}'s ledger through its command handler: {:.1} s ({:.0} per s)",
            took.as_secs_f64(),
            statement_entries as f64 / took.as_secs_f64()
        );
        let t = Instant::now();
        s.app.projector.checkpoints.wait_for(last, LONG).await.unwrap();
        println!(
            "   projected on SQLite {:.1} s after the last booking",
            t.elapsed().as_secs_f64()
        );
        let (state, _) = s.app.ledgers.state(STATEMENT_CUSTOMER).await.unwrap();
        let snapshot = <LedgerAggregate as Snapshot>::encode_state(&state).unwrap().len();
        println!("   the ledger's snapshot state after {statement_entries} bookings: {snapshot} bytes");
        let mut c = client(&s.url).await;
        let (lines, bytes, p, all, whole_lines, wp, wall) = time_statement(&mut c).await;
        println!(
            "3. GetStatement on SQLite, first page {lines} lines ({bytes} bytes): p50 {:.1} ms  (runs: {all} ms; goal < 50 ms); \
             all {whole_lines} lines in pages of 500: p50 {:.1} ms (runs: {wall} ms)",
            ms(p),
            ms(wp)
        );
        statement_parts("SQLite", &s.app.db).await;
        statement_sqlite = Some((lines, p, statement_entries as f64 / took.as_secs_f64(), wp, snapshot));
        s.stop().await;
    }

    // The service over PostgreSQL, on the same nats-server.
    let pg = PgDatabase::new().await.expect("PostgreSQL (127.0.0.1:5432)");
    let clock = ManualClock::at(now());
    let a = start(&nats, &pg.url, clock.clone()).await;
    let mut c = client(&a.url).await;
    let own = stream_last(&js, "RECEIVABLES").await;
    a.app.projector.checkpoints.wait_for(own, LONG).await.unwrap();

    if figures.contains(&1) {
        println!(
            "1. the world: {} hires of {} cars ({} each), {} customers, {} cities",
            w.hires,
            w.cars,
            w.hires_per_car(),
            w.customers,
            CITIES.len()
        );
        let t = Instant::now();
        let (order_last, fleet_last) = append_hires(&js, w).await;
        let appended = t.elapsed();
        a.app.fleet.checkpoints.wait_for(fleet_last, LONG).await.unwrap();
        a.app.hires.checkpoints.wait_for(order_last, LONG).await.unwrap();
        let projected = t.elapsed();
        let drained = until_zero(&a.app.db, "SELECT COUNT(*) FROM rx_recheck", LONG).await;
        println!(
            "   appended {} order and {} fleet events in {:.1} s; both custody projections had them {:.1} s after \
             the first ({:.0} events/s); the rematch scan's outbox drained {:.1} s later",
            order_last,
            fleet_last,
            appended.as_secs_f64(),
            projected.as_secs_f64(),
            (order_last + fleet_last) as f64 / projected.as_secs_f64(),
            drained.as_secs_f64()
        );

        // Baseline.
        let (raw_events, raw_took) = raw_appends(&js, violations, w).await;
        let raw_records = violations as f64 / raw_took.as_secs_f64();
        println!(
            "1. raw JetStream appends, {raw_events} events (2 per record), one at a time: {:.1} s, {:.0} events/s = \
             {raw_records:.0} records/s",
            raw_took.as_secs_f64(),
            raw_events as f64 / raw_took.as_secs_f64()
        );

        // The import: one call, its messages sent until the budget is spent (the server then
        // finishes the message it has and answers).
        let messages: Vec<pb::ImportViolationsRequest> = (0..violations)
            .collect::<Vec<_>>()
            .chunks(batch)
            .enumerate()
            .map(|(b, ks)| pb::ImportViolationsRequest {
                context: ctx(format!("bench-import-{b}")),
                records: ks.iter().map(|&k| record_pb(k, w)).collect(),
                received_at: None,
            })
            .collect();
        let before = stream_last(&js, "RECEIVABLES").await;
        let t = Instant::now();
        // Message b goes out once the records of every message before b-1 are in the read model: the
        // server always has the next message waiting, and the budget stops the import within
        // about a message (the transport would otherwise take many messages ahead).
        let db = a.app.db.clone();
        let sending = futures::stream::unfold((messages.into_iter(), 0usize), move |(mut rest, b)| {
            let db = db.clone();
            async move {
                let want = (b.saturating_sub(1) * batch) as i64;
                while b >= 2 && count(&db, "SELECT COUNT(*) FROM rx_violations").await < want {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                if t.elapsed() >= import_budget {
                    return None;
                }
                rest.next().map(|m| (m, (rest, b + 1)))
            }
        });
        let s = c.import_violations(sending).await.unwrap().into_inner();
        let returned = t.elapsed();
        a.app.projector.checkpoints.wait_for(s.sequence, LONG).await.unwrap();
        let done = t.elapsed();
        let imported = s.received as usize;
        let stream_now = stream_last(&js, "RECEIVABLES").await;
        let steps = count(
            &a.app.db,
            "SELECT COUNT(*) FROM rx_violation_events WHERE name = 'LadderStepTaken'",
        )
        .await;
        let ours = imported as f64 / done.as_secs_f64();
        println!(
            "   import summary: received {}, new {}, duplicates {}, matched {}, exceptions {}, rejected {}",
            s.received,
            s.new,
            s.duplicates,
            s.matched,
            s.exceptions,
            s.rejected.len()
        );
        let cut = if imported < violations {
            format!(
                " (IMPORT_BUDGET_SECS={} stopped it after {imported} of {violations} records: all of them would take \
                 about {:.0} min at this rate)",
                import_budget.as_secs(),
                violations as f64 / ours / 60.0
            )
        } else {
            String::new()
        };
        println!(
            "1. ImportViolations, {imported} records in messages of {batch}: call returned after {:.1} s ({:.0} \
             records/s), projected after {:.1} s: {ours:.0} records/s end to end{cut}",
            returned.as_secs_f64(),
            imported as f64 / returned.as_secs_f64(),
            done.as_secs_f64()
        );
        println!(
            "   meanwhile the stream grew by {} events; the ladder's scan had taken (and the projection applied) {steps} \
             notices by then",
            stream_now - before
        );
        let ratio = ours / raw_records;
        println!("   ratio import / raw appends (records/s): {ratio:.4}");
        // Where a record's time goes: the custody read the import makes for each message of
        // `batch` records (`queries::facts_many`), and for comparison the one-record read it
        // made for every record before.
        let ks: Vec<usize> = (0..imported).step_by((imported / batch).max(1)).take(batch).collect();
        let wanted: Vec<(String, OffsetDateTime)> = ks
            .iter()
            .map(|&k| {
                let (_, p, at) = where_of(k, w);
                (Plate::parse(&p).unwrap().key(), at)
            })
            .collect();
        let mut many = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            queries::facts_many(&a.app.db, &wanted).await.unwrap();
            many.push(t.elapsed());
        }
        let (many_p50, _) = p50(&many);
        let mut facts = Vec::new();
        for (key, at) in wanted.iter().step_by((wanted.len() / 50).max(1)).take(50) {
            let t = Instant::now();
            queries::facts(&a.app.db, key, *at).await.unwrap();
            facts.push(t.elapsed());
        }
        let (facts_p50, _) = p50(&facts);
        let per_record = many_p50.as_secs_f64() / wanted.len().max(1) as f64;
        println!(
            "   queries::facts_many (who had the car, read per message) for {} records after the import: p50 {:.1} ms \
             ({:.3} ms a record); queries::facts for one record (as before, per record): p50 {:.2} ms",
            wanted.len(),
            ms(many_p50),
            per_record * 1e3,
            ms(facts_p50)
        );
        summary.push(format!(
            "1. import {imported} records (batches of {batch}) over {} hires of {} cars: {ours:.1} records/s end to end \
             ({:.1} records/s to the call's return){cut}",
            w.hires,
            w.cars,
            imported as f64 / returned.as_secs_f64()
        ));
        summary.push(format!(
            "   of which the custody read (queries::facts_many per message) {:.3} ms a record, i.e. {:.0} % of a \
             record's {:.2} ms (one record's own read, as before: {:.2} ms)",
            per_record * 1e3,
            100.0 * per_record * ours,
            1e3 / ours,
            ms(facts_p50)
        ));
        summary.push(format!(
            "   raw JetStream appends of {raw_events} such events (2 per record): {:.0} events/s = {raw_records:.0} \
             records/s; ratio import/raw {ratio:.4}",
            raw_events as f64 / raw_took.as_secs_f64()
        ));

        // The ladder's notices for what the import matched, then full passes of reminders.
        let due_now = format!(
            "SELECT COUNT(*) FROM rx_violations WHERE next_due_us IS NOT NULL AND next_due_us <= {}",
            micros(now())
        );
        let backlog = count(&a.app.db, &due_now).await;
        let drained = until_zero(&a.app.db, &due_now, LONG).await;
        let notices = count(
            &a.app.db,
            "SELECT COUNT(*) FROM rx_violation_events WHERE name = 'LadderStepTaken'",
        )
        .await;
        println!(
            "   the ladder's notices: {backlog} still due when the import was projected, all {notices} taken and \
             projected {:.1} s later",
            drained.as_secs_f64()
        );
        // A scan of its own, its clock 3 days on (the reminders are due); the service's own scan
        // keeps its clock, for which nothing is due.
        let pass_clock = ManualClock::at(now() + time::Duration::days(3));
        let scan = reactors::Ladder {
            violations: a.app.violations.clone(),
            ledgers: a.app.ledgers.clone(),
            db: a.app.db.clone(),
            clock: pass_clock,
            ladder: Ladder::default(),
            calendar: Arc::new(Calendar::embedded().unwrap()),
        };
        let mut passes = Vec::new();
        let mut taken_all = Vec::new();
        for _ in 0..5 {
            // What the last pass appended is in the read model before the next one reads it.
            let last = stream_last(&js, "RECEIVABLES").await;
            a.app.projector.checkpoints.wait_for(last, LONG).await.unwrap();
            let t = Instant::now();
            let (found, taken) = scan.scan_once().await.unwrap();
            passes.push(t.elapsed());
            taken_all.push(format!("{taken}/{found}"));
        }
        let (p, all) = p50(&passes);
        println!(
            "4. full ladder passes (reminders taken / due steps found: {}): p50 {:.0} ms  (runs: {all} ms)",
            taken_all.join(", "),
            ms(p)
        );
        summary.push(format!(
            "4. one full ladder pass over 500 due steps (reminders, PostgreSQL): p50 {:.0} ms ({:.0} steps/s)",
            ms(p),
            500.0 / p.as_secs_f64()
        ));
    }

    if figures.contains(&2) {
        let (matches, took) = fill_ledger(&a.app.db, aging_entries, aging_customers).await;
        println!(
            "2. {aging_entries} items and {matches} matches inserted in {:.1} s ({:.0} items/s)",
            took.as_secs_f64(),
            aging_entries as f64 / took.as_secs_f64()
        );
        // What autovacuum does soon after a bulk load.
        for table in ["rx_items", "rx_matches"] {
            sqlx::query(AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                .execute(&a.app.db.pool)
                .await
                .unwrap();
        }
        let as_of = date_text(now().date());
        let mut runs = Vec::new();
        let mut total = None;
        for _ in 0..5 {
            let t = Instant::now();
            let r = c
                .get_aging(pb::GetAgingRequest {
                    as_of: as_of.clone(),
                    city: String::new(),
                    consistency: None,
                })
                .await
                .unwrap()
                .into_inner();
            runs.push(t.elapsed());
            total = r.total;
        }
        let (p, all) = p50(&runs);
        let total = total.unwrap_or_default();
        println!(
            "2. GetAging as of {as_of}, all cities: p50 {:.0} ms  (runs: {all} ms; goal < 200 ms); total open {} fen \
             (current {}, 1-30 {}, 31-60 {}, 61-90 {}, >90 {})",
            ms(p),
            total.total_fen,
            total.current_fen,
            total.days_1_30_fen,
            total.days_31_60_fen,
            total.days_61_90_fen,
            total.over_90_fen
        );
        // The check: the item-by-item SQL the report ran before (every item less its matches as
        // of the date) gives the same total.
        let t = Instant::now();
        let before: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT CAST(SUM(open_fen) AS BIGINT) FROM (SELECT CAST(i.amount_fen - COALESCE((SELECT SUM(m.amount_fen) \
             FROM rx_matches m WHERE m.debit_id = i.booking_id AND m.applied_day <= '{as_of}' AND (m.released_day IS NULL \
             OR m.released_day > '{as_of}')), 0) AS BIGINT) AS open_fen FROM rx_items i WHERE i.booked_day <= '{as_of}' \
             AND (i.reversed_day IS NULL OR i.reversed_day > '{as_of}')) o WHERE open_fen > 0"
        )))
        .fetch_one(&a.app.db.pool)
        .await
        .unwrap();
        println!(
            "   check: the item-by-item SQL of before says {} fen open ({:.0} ms): {}",
            before.unwrap_or(0),
            ms(t.elapsed()),
            if before.unwrap_or(0) == total.total_fen {
                "the same"
            } else {
                "DIFFERENT"
            }
        );
        // The plan PostgreSQL chooses for the report's SQL, and how many delta rows it reads.
        let deltas = count(&a.app.db, "SELECT COUNT(*) FROM rx_open_deltas").await;
        let plan: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "EXPLAIN ANALYZE {}",
            queries::open_by_due_sql(false).replace("$1", &format!("'{as_of}'"))
        )))
        .fetch_all(&a.app.db.pool)
        .await
        .unwrap();
        println!("   rx_open_deltas holds {deltas} rows; EXPLAIN ANALYZE of the report's SQL:");
        for line in plan {
            println!("     {line}");
        }
        // The same query without gRPC and bucketing: where the time goes.
        let mut direct = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            queries::open_by_due(&a.app.db, now().date(), None).await.unwrap();
            direct.push(t.elapsed());
        }
        let (dp, dall) = p50(&direct);
        println!(
            "   queries::open_by_due alone: median of 3 {:.0} ms  (runs: {dall} ms)",
            ms(dp)
        );
        summary.push(format!(
            "2. GetAging over {aging_entries} ledger items ({matches} matches), PostgreSQL: p50 {:.0} ms (goal < 200 ms; \
             the SQL alone, median of 3, {:.0} ms)",
            ms(p),
            ms(dp)
        ));
    }

    if figures.contains(&3) {
        let (lines, bytes, p, all, whole_lines, wp, wall) = time_statement(&mut c).await;
        println!(
            "3. GetStatement on PostgreSQL, first page {lines} lines ({bytes} bytes): p50 {:.1} ms  (runs: {all} ms; goal < 50 ms); \
             all {whole_lines} lines in pages of 500: p50 {:.1} ms (runs: {wall} ms)",
            ms(p),
            ms(wp)
        );
        statement_parts("PostgreSQL", &a.app.db).await;
        if let Some((sl, sp, rate, swp, snapshot)) = statement_sqlite {
            summary.push(format!(
                "3. GetStatement, one customer with {statement_entries} bookings, first page: SQLite p50 {:.1} ms ({sl} lines), \
                 PostgreSQL p50 {:.1} ms ({lines} lines) (goal < 50 ms); all {whole_lines} lines in pages of 500: SQLite \
                 {:.1} ms, PostgreSQL {:.1} ms",
                ms(sp),
                ms(p),
                ms(swp),
                ms(wp)
            ));
            summary.push(format!(
                "   the bookings were made at {rate:.0} per s; the ledger's snapshot state after them {snapshot} bytes"
            ));
        }
    }
    a.stop().await;

    if figures.contains(&4) {
        println!("4. the ladder's due-step scan over {ladder_rows} open violations:");
        let sqlite = SqliteDatabase::new().unwrap();
        let (sp, _) = due_scan("SQLite", &migrated(&sqlite.url).await, ladder_rows).await;
        let pg4 = PgDatabase::new().await.unwrap();
        let (pp, _) = due_scan("PostgreSQL", &migrated(&pg4.url).await, ladder_rows).await;
        summary.push(format!(
            "4. due_steps(now, 500) over {ladder_rows} violations: SQLite p50 {:.2} ms, PostgreSQL p50 {:.2} ms \
             (goal < 1 s)",
            ms(sp),
            ms(pp)
        ));
    }

    println!();
    println!(
        "==== summary (medians; sizes: HIRES={} CARS={} VIOLATIONS={violations} AGING_ENTRIES={aging_entries} STATEMENT_ENTRIES={statement_entries} LADDER_VIOLATIONS={ladder_rows}) ====",
        w.hires, w.cars
    );
    for line in summary {
        println!("{line}");
    }
}
