//! The demo week against the four real services, in-process on one real nats-server, on SQLite
//! and PostgreSQL: a small week (12 cars, seed 7) is played through `rentops_demo::play`, the
//! figures it reports are checked against the services' own queries, and a second run of the
//! same seed appends nothing to any stream and reports the same figures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step stops it loudly

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rentops_demo::DemoArgs;
use rentops_e2e::Cluster;
use rentops_proto::common::{Consistency, PageRequest};
use rentops_proto::order as opb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_proto::receivables as rpb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use rentops_report::ReportArgs;
use rentops_runtime::SystemClock;
use rentops_testkit::TestDatabase;

const STREAMS: [&str; 4] = ["ORDER", "FLEET", "RECEIVABLES", "COMPLAINT"];
const WAIT: Duration = Duration::from_secs(60);

/// The four services on the real clock: the demo plays against "now", as on the local cluster.
type Services = Cluster<SystemClock>;

async fn start(dbs: [&TestDatabase; 4]) -> Services {
    Cluster::start(dbs, Arc::new(SystemClock)).await
}

async fn last_sequences(c: &Services) -> Vec<u64> {
    let mut out = Vec::new();
    for s in STREAMS {
        out.push(c.last_sequence(s).await);
    }
    out
}

fn within(min_sequence: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence,
        timeout_ms: 30_000,
    })
}

/// Lets every reaction and scan the week set off finish: until a round of full passes of every
/// scan leaves all four streams where they were, twice.
async fn settled(c: &Services) -> Vec<u64> {
    let mut stable = 0;
    let mut before = last_sequences(c).await;
    while stable < 2 {
        let (order, fleet, rx, cp) = (c.order.app(), c.fleet.app(), c.receivables.app(), c.complaint.app());
        order.deadline_scan.next_full_pass(WAIT).await.expect("order's scan");
        fleet.reactions.next_full_pass(WAIT).await.expect("fleet's reactions");
        rx.ladder_scan.next_full_pass(WAIT).await.expect("the ladder");
        rx.rematch_scan.next_full_pass(WAIT).await.expect("the rematch scan");
        rx.deposit_scan.next_full_pass(WAIT).await.expect("the deposit scan");
        rx.damage_scan.next_full_pass(WAIT).await.expect("the damage scan");
        cp.sla_scan.next_full_pass(WAIT).await.expect("the SLA scan");
        cp.hot_spot_scan.next_full_pass(WAIT).await.expect("the hot-spot scan");
        let now = last_sequences(c).await;
        stable = if now == before { stable + 1 } else { 0 };
        before = now;
    }
    before
}

/// The weekly report of the week starting `monday`, rendered in headless chromium: no console
/// line, every chart with a data mark. Its headline figures.
async fn report_renders(c: &Services, monday: &str, label: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("report-{monday}.html"));
    let args = ReportArgs {
        city: "SHA".into(),
        week: Some(monday.to_owned()),
        out: Some(path.clone()),
        ..ReportArgs::default()
    };
    let summary = rentops_report::run(&args, &c.endpoints())
        .await
        .expect("the report runs");
    let dom = rentops_testkit::browser::render(&path)
        .await
        .unwrap_or_else(|e| panic!("{label}: the report of {monday}: {e}"));
    let charts =
        rentops_report::check_rendered(&dom).unwrap_or_else(|e| panic!("{label}: the report of {monday}: {e}"));
    assert!(charts >= 3, "{label}: {charts} charts in the report of {monday}");
    summary
}

rentops_testkit::per_backend! {
    async fn a_demo_week_reports_what_the_services_hold_and_a_second_run_changes_nothing(
        order_db: TestDatabase,
        fleet_db: TestDatabase,
        rx_db: TestDatabase,
        cp_db: TestDatabase
    ) {
        let label = order_db.label();
        let cluster = start([&order_db, &fleet_db, &rx_db, &cp_db]).await;
        let endpoints = cluster.endpoints();
        let args = DemoArgs { seed: 7, cars: 12, ..Default::default() };
        let first = rentops_demo::play(&args, &endpoints).await.expect("the demo week plays");
        eprintln!("{label}:\n{}", first.text());

        let seqs = settled(&cluster).await;

        // The weekly report of the demo week, and of the week of its live days, in a real browser.
        let summary = report_renders(&cluster, &first.week.0, label).await;
        eprintln!("{label}: {summary}");
        // The backlog week's report has its violations, however late their feeds came.
        let offences = summary
            .lines()
            .find_map(|l| l.trim().strip_prefix("violations: "))
            .and_then(|n| n.parse::<u32>().ok());
        assert!(offences.is_some_and(|n| n > 0), "{label}: the week's violations in its report: {summary}");
        let china = time::UtcOffset::from_hms(8, 0, 0).unwrap();
        let live = time::OffsetDateTime::parse(&first.live_from, &time::format_description::well_known::Rfc3339)
            .expect("the live days' start")
            .to_offset(china)
            .date();
        let live_monday = live - time::Duration::days(i64::from(live.weekday().number_days_from_monday()));
        report_renders(&cluster, &live_monday.to_string(), label).await;

        // The figures are the services' own: read them back.
        let mut oc = OrderServiceClient::connect(endpoints.order.clone()).await.unwrap();
        let mut orders = Vec::new();
        let mut token = String::new();
        loop {
            let r = oc
                .list_orders(opb::ListOrdersRequest {
                    city: "SHA".into(),
                    page: Some(PageRequest { page_size: 500, page_token: token }),
                    consistency: within(seqs[0]),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            orders.extend(r.orders);
            token = r.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        let week_orders: u32 = first.orders.values().sum();
        let live_orders: u32 = first.live_orders.values().sum();
        assert!(week_orders > 20, "{label}: a week of orders: {week_orders}");
        assert_eq!(orders.len() as u32, week_orders + live_orders, "{label}: every order is counted once");
        let swaps: usize = orders.iter().map(|o| o.swaps.len()).sum();
        assert!(first.swaps >= 1, "{label}: a breakdown during a hire was swapped");
        assert_eq!(swaps as u32, first.swaps, "{label}: swaps recorded on the orders");
        let channels: std::collections::BTreeSet<i32> = orders.iter().map(|o| o.channel).collect();
        assert!(channels.len() >= 4, "{label}: orders from most channels: {channels:?}");
        let mut by_status: BTreeMap<i32, u32> = BTreeMap::new();
        for o in &orders {
            *by_status.entry(o.status).or_default() += 1;
        }
        assert!(by_status.contains_key(&(opb::OrderStatus::Completed as i32)), "{label}: {by_status:?}");
        assert!(by_status.contains_key(&(opb::OrderStatus::Cancelled as i32)), "{label}: {by_status:?}");
        assert!(by_status.contains_key(&(opb::OrderStatus::NoShow as i32)), "{label}: {by_status:?}");
        assert!(first.live_assigned >= 1, "{label}: the plan put cars on the live orders");
        assert!(first.kpi_due > 0 && first.kpi_fulfilled > 0, "{label}: fleet's KPIs of the week");

        let mut rc = ReceivablesServiceClient::connect(endpoints.receivables.clone()).await.unwrap();
        let all = rc
            .list_violations(rpb::ListViolationsRequest {
                page: Some(PageRequest { page_size: 500, page_token: String::new() }),
                consistency: within(seqs[2]),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .violations;
        let counted: u32 = first.violations_by_status.values().sum();
        assert_eq!(all.len() as u32, counted, "{label}: every violation counted once");
        assert_eq!(first.imported[1], counted, "{label}: each new record is one violation");
        assert!(first.imported[2] > 0, "{label}: the feeds repeat records: {:?}", first.imported);
        let renters = all.iter().filter(|v| v.r#match.as_ref().is_some_and(|m| !m.order_id.is_empty())).count();
        assert!(renters > 0, "{label}: violations matched to hires");
        let noticed = all.iter().filter(|v| v.last_step != rpb::LadderStep::Unspecified as i32).count() as u32;
        assert_eq!(first.ladder_steps.values().sum::<u32>(), noticed, "{label}: ladder steps taken");
        let disputed: Vec<_> = all.iter().filter(|v| !v.disputes.is_empty()).collect();
        assert!(!disputed.is_empty(), "{label}: a complaint disputes a violation");
        assert_eq!(disputed.len() as u32, first.disputed, "{label}");
        for v in &disputed {
            assert_eq!(v.next_step, rpb::LadderStep::Unspecified as i32, "{label}: the ladder stands still: {v:?}");
        }
        let claims = rc
            .list_claims(rpb::ListClaimsRequest { consistency: within(seqs[2]), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .claims;
        assert_eq!(claims.len() as u32, first.claims_opened, "{label}: claims opened from damaged returns");
        assert!(first.claims_opened >= 1, "{label}");
        // The backlog played out: its violations matched to hires as of their feeds' receipt,
        // and their ladders ran on to the charge (ten weeks back: and to collections).
        let late: Vec<_> = all
            .iter()
            .filter(|v| v.status == rpb::ViolationStatus::Charged as i32 || v.status == rpb::ViolationStatus::Collections as i32)
            .collect();
        assert!(!late.is_empty(), "{label}: backlog violations charged: {:?}", first.violations_by_status);
        for v in &late {
            assert!(!v.charge_booking_id.is_empty(), "{label}: a charge on the ledger: {v:?}");
        }
        let cases: u32 = first.cases_by_status.values().sum();
        assert!(cases >= 8, "{label}: complaints were opened: {:?}", first.cases_by_status);
        // The backlog's cases entered late ran their SLA clocks then: those left unanswered or
        // answered late are breached, and the scan escalated them.
        assert!(first.clocks.keys().any(|k| k.ends_with("breached")), "{label}: {:?}", first.clocks);
        assert!(first.escalated >= 1, "{label}: breached cases were escalated: {:?}", first.clocks);
        assert!(first.reopened >= 1 || cases < 8, "{label}: a case was reopened");

        for (hop, l) in &first.latency {
            assert!(l.samples > 0, "{label}: {hop:?} was measured: {l:?}");
            assert_eq!(l.missed, 0, "{label}: every effect of {hop:?} showed: {l:?}");
        }

        // The same seed again: nothing new anywhere, the same figures.
        let second = rentops_demo::play(&args, &endpoints).await.expect("the second run plays");
        eprintln!("{label} (second run):\n{}", second.text());
        assert_eq!(last_sequences(&cluster).await, seqs, "{label}: a second run appends nothing");
        assert_eq!(second.stable(), first.stable(), "{label}: the same figures");
        assert!(second.latency.values().all(|l| l.samples == 0), "{label}: nothing new to measure");

        cluster.stop().await;
    }
}

/// The default size (100 cars, or RENTOPS_DEMO_CARS) on SQLite, for its figures and wall time:
/// `cargo test -p rentops-demo --test week -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a full-size week takes a while; run by hand for its figures"]
async fn a_full_size_week() {
    let cars = std::env::var("RENTOPS_DEMO_CARS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    let dbs: Vec<TestDatabase> = (0..4).map(|_| TestDatabase::sqlite().unwrap()).collect();
    let cluster = start([&dbs[0], &dbs[1], &dbs[2], &dbs[3]]).await;
    let args = DemoArgs {
        seed: 1,
        cars,
        ..Default::default()
    };
    let text = rentops_demo::run(&args, &cluster.endpoints(), false)
        .await
        .expect("the demo week plays");
    println!("{text}");
    cluster.stop().await;
}
