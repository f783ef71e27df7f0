//! The weekly report of a small real week: the four services in-process on one real
//! nats-server (SQLite and PostgreSQL), a city with three cars, a hire with a breakdown and a
//! swap, a hire on time, an order no car can serve, violation records (one matched, one for the
//! exceptions queue, one for no car at all), a repair charge partly paid, and a burst of
//! complaints that raises a hot spot. `run` writes the report; its figures are checked against
//! what the services' own queries say, and the file is rendered in real headless chromium,
//! which must log nothing to the console and show a data mark in every chart. The same check
//! is run on three broken copies of the file (charts without marks, a console error, an image
//! from the network), to prove it fails when it should.
//!
//! The clock is moved, never waited for; every wait is on a projection's or a scan's progress.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step stops it loudly

use std::path::Path;
use std::time::Duration;

use rentops_e2e::{Cluster, cny, last_sequence, rid, station, ts, violation};
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::{complaint as cpb, fleet as fpb, order as opb, receivables as rpb};
use rentops_report::{ReportArgs, chart_marks};
use rentops_runtime::ManualClock;
use time::{Date, OffsetDateTime, UtcOffset};

const HOSTILE_PLACE: &str = "<script>console.error('xss in a place')</script>浦东机场南路";

fn hours(h: i64) -> time::Duration {
    time::Duration::hours(h)
}

fn china() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).unwrap()
}

/// The Monday two weeks from now (China time): the whole week lies ahead of the real clock, as
/// the services' plans expect of pickups.
fn test_monday() -> Date {
    let today = OffsetDateTime::now_utc().to_offset(china()).date();
    today - time::Duration::days(i64::from(today.weekday().number_days_from_monday())) + time::Duration::days(14)
}

fn within(seq: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence: seq,
        timeout_ms: 30_000,
    })
}

async fn pickup(c: &mut Cluster, order_id: &str, vehicle: &str, plate: &str) {
    c.oc.record_pickup(opb::RecordPickupRequest {
        context: rid(),
        order_id: order_id.into(),
        vehicle_id: vehicle.into(),
        plate: plate.into(),
        odometer_km: 1000,
        charge_percent: 90,
        ..Default::default()
    })
    .await
    .unwrap();
}

async fn give_back(c: &mut Cluster, order_id: &str, km: i64) {
    c.oc.record_return(opb::RecordReturnRequest {
        context: rid(),
        order_id: order_id.into(),
        odometer_km: km,
        charge_percent: 60,
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Every service's projections have read every stream up to now.
async fn settled(c: &Cluster) {
    let url = c.nats_url();
    let (o, f, r, p) = (
        last_sequence(&url, "ORDER").await,
        last_sequence(&url, "FLEET").await,
        last_sequence(&url, "RECEIVABLES").await,
        last_sequence(&url, "COMPLAINT").await,
    );
    let t = Duration::from_secs(30);
    let (order, fleet, rx, cp) = (c.order.app(), c.fleet.app(), c.receivables.app(), c.complaint.app());
    order.projector.checkpoints.wait_for(o, t).await.unwrap();
    fleet.fleet_projector.checkpoints.wait_for(f, t).await.unwrap();
    fleet.demand_projector.checkpoints.wait_for(o, t).await.unwrap();
    rx.projector.checkpoints.wait_for(r, t).await.unwrap();
    rx.hires.checkpoints.wait_for(o, t).await.unwrap();
    rx.fleet.checkpoints.wait_for(f, t).await.unwrap();
    cp.projector.checkpoints.wait_for(p, t).await.unwrap();
    cp.orders.checkpoints.wait_for(o, t).await.unwrap();
    cp.fleet.checkpoints.wait_for(f, t).await.unwrap();
    cp.receivables.checkpoints.wait_for(r, t).await.unwrap();
}

/// A record of the bureau's at `place`.
fn record(plate: &str, at: OffsetDateTime, place: &str, line: u32) -> rpb::ViolationRecord {
    rpb::ViolationRecord {
        place: place.into(),
        ..violation(plate, at, line)
    }
}

/// Renders `file` in headless chromium: the DOM it ended with, or why the page fails (a console
/// line, the page's own check, a chart without a data mark).
async fn browser_check(file: &Path) -> Result<String, String> {
    let dom = rentops_testkit::browser::render(file).await?;
    rentops_report::check_rendered(&dom)?;
    Ok(dom)
}

/// The headline tile's value.
fn tile<'a>(html: &'a str, name: &str) -> &'a str {
    html.split(&format!("data-figure=\"{name}\"><b>"))
        .nth(1)
        .and_then(|s| s.split("</b>").next())
        .unwrap_or_else(|| panic!("no tile {name}"))
}

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

rentops_testkit::per_backend! {
    async fn the_weekly_report_shows_the_week_the_services_recorded(
        order_db: TestDatabase,
        fleet_db: TestDatabase,
        rx_db: TestDatabase,
        cp_db: TestDatabase
    ) {
        let monday = test_monday();
        // Monday 09:00 China time.
        let t0 = monday.midnight().assume_offset(china()) + hours(9);
        let mut s = Cluster::start([&order_db, &fleet_db, &rx_db, &cp_db], ManualClock::at(t0)).await;
        let label = order_db.label();
        s.city_sha().await;
        s.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
        s.register("V2", "沪AD00002", VehicleModel::Ec6, "SHA").await;
        s.register("V3", "沪AD00003", VehicleModel::Et5, "PVG").await;

        // Monday: an ES6 hire; V1 breaks down and is swapped for V2 (an allowed upgrade).
        let a = s.confirmed_order_with("APP-RPT-1", VehicleModel::Es6, t0 + hours(2), t0 + hours(8), 0).await;
        // Tuesday: an ET5 hire on time.
        let b = s.confirmed_order_with("APP-RPT-2", VehicleModel::Et5, t0 + hours(26), t0 + hours(30), 0).await;
        // Wednesday: an ES8, which no car of the city can serve.
        let c = s.confirmed_order_with("APP-RPT-3", VehicleModel::Es8, t0 + hours(50), t0 + hours(54), 0).await;
        s.order_when(&a, "V1 planned", |o| o.assigned_vehicle_id == "V1").await;
        s.order_when(&b, "V3 planned", |o| o.assigned_vehicle_id == "V3").await;
        s.order_when(&c, "the ES8 at risk", |o| o.at_risk).await;

        s.clock.set(t0 + hours(2));
        pickup(&mut s, &a, "V1", "沪AD00001").await;
        // Fleet knows the car is on hire before it breaks down, so it plans a swap.
        s.vehicle_when("V1", "V1 on hire at fleet", |v| v.on_hire_order_id == a).await;
        s.clock.set(t0 + hours(5));
        s.fc
            .report_breakdown(fpb::ReportBreakdownRequest {
                context: rid(),
                vehicle_id: "V1".into(),
                station_or_address: "SHA".into(),
                severity: fpb::Severity::Major as i32,
                description: "drive unit fault".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        s.order_when(&a, "the swap to V2 planned", |o| o.assigned_vehicle_id == "V2").await;
        s.oc
            .record_swap(opb::RecordSwapRequest {
                context: rid(),
                order_id: a.clone(),
                location: station("SHA"),
                from_odometer_km: 1180,
                from_charge_percent: 30,
                vehicle_id: "V2".into(),
                plate: "沪AD00002".into(),
                odometer_km: 3000,
                charge_percent: 95,
                ..Default::default()
            })
            .await
            .unwrap();
        s.clock.set(t0 + hours(8));
        give_back(&mut s, &a, 3260).await;
        s.clock.set(t0 + hours(26));
        pickup(&mut s, &b, "V3", "沪AD00003").await;
        s.clock.set(t0 + hours(30));
        give_back(&mut s, &b, 1200).await;
        settled(&s).await;

        // Thursday: the records come in. One in V1 during the hire (the renter's), one in V2
        // before it was swapped in (no hire: the exceptions queue), one on a plate no car has.
        s.clock.set(t0 + hours(72));
        let summary = s
            .rc
            .import_violations(futures::stream::iter(vec![rpb::ImportViolationsRequest {
                context: rid(),
                records: vec![
                    record("沪AD00001", t0 + hours(3), "延安高架", 1),
                    record("沪AD00002", t0 + hours(1), HOSTILE_PLACE, 2),
                    record("沪AD99999", t0 + hours(4), "外环", 3),
                ],
                received_at: None,
            }]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((summary.new, summary.matched, summary.exceptions), (3, 1, 2), "{label}: {summary:?}");
        s.receivables.app().ladder_scan.next_full_pass(Duration::from_secs(30)).await.unwrap();

        // A repair on A's hire, confirmed and half paid in the week.
        let claim = s
            .rc
            .open_claim(rpb::OpenClaimRequest {
                context: rid(),
                order_id: a.clone(),
                cause: rpb::DamageCause::Ordinary as i32,
                damage: "前保险杠刮擦".into(),
                lines: vec![rpb::InvoiceLineInput {
                    kind: rpb::InvoiceLineKind::Paint as i32,
                    description: "喷漆".into(),
                    amount: cny(80_000),
                    document_ref: "INV-1".into(),
                }],
                repair_days: 0,
            })
            .await
            .expect("claim opens")
            .into_inner();
        let opened = s
            .rc
            .get_claim(rpb::GetClaimRequest { claim_id: claim.claim_id.clone(), consistency: within(claim.sequence) })
            .await
            .unwrap()
            .into_inner()
            .claim
            .unwrap();
        let total = opened.liability.as_ref().unwrap().total_fen;
        let confirmed = s
            .rc
            .confirm_claim(rpb::ConfirmClaimRequest {
                context: rid(),
                claim_id: claim.claim_id.clone(),
                expected_total: cny(total),
            })
            .await
            .expect("claim confirmed")
            .into_inner();
        assert!(!confirmed.charge_booking_id.is_empty(), "{label}: {confirmed:?}");
        s.rc
            .record_payment(rpb::RecordPaymentRequest {
                context: rid(),
                customer_id: "C-APP-RPT-1".into(),
                amount: cny(total / 2),
                reference: "PAY-1".into(),
                charge_booking_id: confirmed.charge_booking_id.clone(),
                ..Default::default()
            })
            .await
            .expect("payment");

        // Friday: six complaints about the cars, one of them hostile; none the week before.
        settled(&s).await;
        s.clock.set(t0 + hours(96));
        let texts = [
            "车很脏，座椅上有垃圾",
            "车内很脏，没有清洁",
            "<script>console.error('xss in a complaint')</script>车很脏",
            "车辆不干净，脏",
            "取车时车很脏，有异味",
            "车脏，还没充电",
        ];
        // All about A's hire, so all the city's; the first is answered and resolved at once.
        for (i, text) in texts.iter().enumerate() {
            let opened = s
                .cc
                .open_case(cpb::OpenCaseRequest {
                    context: rid(),
                    channel: "APP".into(),
                    customer_id: "C-APP-RPT-1".into(),
                    order_id: a.clone(),
                    category: "vehicle".into(),
                    sub_category: "cleanliness".into(),
                    text: (*text).into(),
                    ..Default::default()
                })
                .await
                .expect("case opens")
                .into_inner();
            if i == 0 {
                s.clock.set(t0 + hours(96) + time::Duration::minutes(10));
                s.cc
                    .record_first_response(cpb::RecordFirstResponseRequest {
                        context: rid(),
                        case_id: opened.case_id.clone(),
                        note: "已安排复查".into(),
                        at: None,
                    })
                    .await
                    .expect("first response");
                s.clock.set(t0 + hours(97));
                s.cc
                    .resolve_case(cpb::ResolveCaseRequest {
                        context: rid(),
                        case_id: opened.case_id.clone(),
                        explanation: "已致歉并加强清洁".into(),
                        remedies: vec![],
                        at: None,
                    })
                    .await
                    .expect("resolved");
            }
        }
        // The next Monday: the week is over, and the hot-spot scan has looked at it.
        s.clock.set(t0 + time::Duration::days(7));
        settled(&s).await;
        s.complaint.app().hot_spot_scan.next_full_pass(Duration::from_secs(30)).await.unwrap();
        settled(&s).await;

        // The report.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        let args = ReportArgs {
            city: "SHA".into(),
            week: Some(monday.to_string()),
            out: Some(path.clone()),
            ..ReportArgs::default()
        };
        let summary = rentops_report::run(&args, &s.endpoints()).await.expect("the report runs");
        assert!(summary.contains(&path.display().to_string()), "{label}: {summary}");
        let html = std::fs::read_to_string(&path).unwrap();

        // Its figures are the services' own.
        let kpis = s
            .fc
            .get_kpis(fpb::GetKpisRequest {
                city: "SHA".into(),
                from_day: monday.to_string(),
                to_day: (monday + time::Duration::days(6)).to_string(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let due: u32 = kpis.rows.iter().map(|r| r.due_orders).sum();
        let fulfilled: u32 = kpis.rows.iter().map(|r| r.fulfilled_orders).sum();
        assert_eq!(due, 3, "{label}: three orders due: {kpis:?}");
        assert_eq!(tile(&html, "fulfilment"), pct(Some(f64::from(fulfilled) / f64::from(due))), "{label}");
        let on: f64 = kpis.rows.iter().map(|r| r.on_rent_hours).sum();
        let avail: f64 = kpis.rows.iter().map(|r| r.available_hours).sum();
        assert_eq!(tile(&html, "idle"), pct(Some(1.0 - on / avail)), "{label}");
        for r in &kpis.rows {
            assert!(html.contains(&format!("<td>{}</td><td>all</td><td class=\"n\">{}</td>", r.day, r.due_orders)), "{label}: {}", r.day);
        }
        let at_risk = s
            .fc
            .list_at_risk_orders(fpb::ListAtRiskOrdersRequest { city: "SHA".into(), consistency: None })
            .await
            .unwrap()
            .into_inner()
            .orders;
        // Once its pickup time is past, fleet's plan no longer lists the order; the order keeps
        // its flag. The report counts an order of the week flagged by either.
        let flagged = s.order_when(&c, "C as the order service shows it", |_| true).await.at_risk
            || at_risk.iter().any(|o| o.order_id == c);
        assert!(flagged, "{label}: {at_risk:?}");
        assert_eq!(tile(&html, "at risk"), "1", "{label}");
        assert!(html.contains(&format!("<td>{c}</td>")), "{label}: the at-risk order listed");
        assert_eq!(tile(&html, "swaps"), "1", "{label}");
        assert!(html.contains(&format!("<td>{a}</td>")), "{label}: the swapped order listed");
        assert_eq!(tile(&html, "orders"), "3", "{label}");

        let violations = s
            .rc
            .list_violations(rpb::ListViolationsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .violations;
        assert_eq!(violations.len(), 3, "{label}");
        // Two of the three are the city's (V1's and V2's plates); the third no car carries.
        assert_eq!(tile(&html, "violations"), "2", "{label}");
        assert_eq!(tile(&html, "to exceptions"), "1", "{label}");
        assert!(html.contains("<td>matched to a renter's hire</td><td class=\"n\">1</td>"), "{label}");
        assert!(html.contains("1 record(s) of the week matched no car"), "{label}");
        let notice = violations
            .iter()
            .find(|v| v.r#match.is_some())
            .map(|v| v.last_step >= rpb::LadderStep::Notice as i32)
            .unwrap();
        assert!(notice, "{label}: the ladder sent its notice");
        let funnel = html.split("id=\"chart-funnel\"").nth(1).and_then(|s| s.split("</svg>").next()).unwrap_or_default();
        assert!(funnel.contains(">notice</text>"), "{label}: the funnel shows the notice step: {funnel}");

        let month = format!("{}-{:02}", monday.year(), u8::from(monday.month()));
        let sunday = monday + time::Duration::days(6);
        let kpis = s
            .rc
            .get_collection_kpis(rpb::GetCollectionKpisRequest {
                from_month: month.clone(),
                to_month: format!("{}-{:02}", sunday.year(), u8::from(sunday.month())),
                city: "SHA".into(),
                consistency: None,
            })
            .await
            .unwrap()
            .into_inner()
            .kpis;
        let billed: i64 = kpis.iter().map(|k| k.billed_fen).sum();
        let recovered: i64 = kpis.iter().map(|k| k.recovered_fen).sum();
        assert_eq!((billed, recovered), (total, total / 2), "{label}: {kpis:?}");
        assert_eq!(tile(&html, "recovery"), pct(Some(recovered as f64 / billed as f64)), "{label}");
        let aging = s
            .rc
            .get_aging(rpb::GetAgingRequest { as_of: sunday.to_string(), city: "SHA".into(), consistency: None })
            .await
            .unwrap()
            .into_inner();
        let open = aging.total.as_ref().map_or(0, |b| b.total_fen);
        assert_eq!(open, total - total / 2, "{label}: {aging:?}");
        assert_eq!(tile(&html, "open at week's end"), format!("{} CNY", rentops_kernel::Fen(open)), "{label}");

        let (from, to) = (monday.midnight().assume_offset(china()), monday.midnight().assume_offset(china()) + time::Duration::days(7));
        let analysis = s
            .cc
            .analyze_complaints(cpb::AnalyzeComplaintsRequest {
                period_from: Some(ts(from)),
                period_to: Some(ts(to)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let sha = analysis.by_city.iter().find(|r| r.value == "SHA").expect("SHA's rate");
        assert_eq!(
            tile(&html, "complaints per 1,000 orders"),
            sha.per_thousand.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}")),
            "{label}: {analysis:?}"
        );
        assert_eq!(sha.cases, 6, "{label}: {analysis:?}");
        // Every case is the city's, so the city's service standard, counted from the cases'
        // clocks, is the analysis' own.
        let sla = analysis.sla.as_ref().unwrap();
        assert_eq!((sla.first_response_stopped, sla.first_response_met), (1, 1), "{label}: {sla:?}");
        let row = |name: &str, met: i64, stopped: i64, share: Option<f64>| {
            let share = pct(share);
            format!(
                "<td>{name}</td><td class=\"n\">{met} of {stopped}</td><td class=\"n\">{share}</td>\
                 <td class=\"n\">{met} of {stopped}</td><td class=\"n\">{share}</td>"
            )
        };
        for expected in [
            row("first response within target", sla.first_response_met, sla.first_response_stopped, sla.first_response_compliance),
            row("resolved within target", sla.resolution_met, sla.resolution_stopped, sla.resolution_compliance),
        ] {
            assert!(html.contains(&expected), "{label}: {expected} not in the SLA table");
        }
        assert_eq!(tile(&html, "resolution SLA met"), pct(sla.resolution_compliance), "{label}");
        assert_eq!(analysis.hot_spots.len(), 1, "{label}: {analysis:?}");
        assert_eq!(tile(&html, "hot spots"), "1", "{label}");
        let brief = &analysis.hot_spots[0].brief;
        assert!(brief.iter().any(|l| l.starts_with("keywords:")), "{label}: {brief:?}");
        assert!(html.contains("<div class=\"hot-spot\"><p><b>vehicle</b>: 6 cases"), "{label}");
        assert!(html.contains("<blockquote class=\"example\">"), "{label}: the examples' words");
        // Hostile text is shown as text.
        assert!(html.contains("&lt;script&gt;console.error('xss in a place')&lt;/script&gt;"), "{label}");
        assert_eq!(html.matches("<script").count(), 1, "{label}: only the page's own check");

        // Chromium renders it: no console message, every chart with data marks.
        let dom = browser_check(&path).await.unwrap_or_else(|e| panic!("{label}: {e}"));
        let charts = chart_marks(&dom);
        assert!(charts.len() >= 8, "{label}: {charts:?}");
        // RENTOPS_REPORT_SCREENSHOT=/tmp/report: keeps the file as /tmp/report.<backend>.html
        // and a picture of it as /tmp/report.<backend>.png, to look at.
        if let Ok(keep) = std::env::var("RENTOPS_REPORT_SCREENSHOT") {
            std::fs::copy(&path, format!("{keep}.{label}.html")).unwrap();
            rentops_testkit::browser::screenshot(&path, Path::new(&format!("{keep}.{label}.png")), 1100, 2600)
                .await
                .unwrap();
        }

        // The check fails when it should: an empty chart, and a script that logs an error.
        let broken = dir.path().join("empty-chart.html");
        std::fs::write(&broken, html.replacen("class=\"mark\"", "class=\"gone\"", usize::MAX)).unwrap();
        let e = browser_check(&broken).await.expect_err("an empty chart fails the check");
        assert!(e.contains("empty chart"), "{label}: {e}");
        let broken = dir.path().join("console-error.html");
        std::fs::write(&broken, html.replacen("<body>", "<body><script>console.error('boom')</script>", 1)).unwrap();
        let e = browser_check(&broken).await.expect_err("a console error fails the check");
        assert!(e.contains("boom"), "{label}: {e}");
        // A resource from outside is blocked by the page's policy, which the console reports.
        let broken = dir.path().join("remote-image.html");
        std::fs::write(&broken, html.replacen("<body>", "<body><img src=\"https://example.invalid/x.png\">", 1)).unwrap();
        let e = browser_check(&broken).await.expect_err("a remote resource fails the check");
        assert!(e.contains("Content Security Policy"), "{label}: {e}");

        s.stop().await;
    }
}
