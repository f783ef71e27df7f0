//! The week's figures, read back from the services' own queries (never counted from what the
//! demo meant to do), and the latency the demo measured itself.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration as StdDuration;

use anyhow::Context as _;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tonic::transport::Channel;

use rentops_kernel::Fen;
use rentops_proto::common::{Consistency, PageRequest};
use rentops_proto::complaint as cpb;
use rentops_proto::complaint::complaint_service_client::ComplaintServiceClient;
use rentops_proto::fleet as fpb;
use rentops_proto::fleet::fleet_service_client::FleetServiceClient;
use rentops_proto::order as opb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_proto::receivables as rpb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;

use crate::CHINA;
use crate::play::{from_ts, ts};

/// A cross-service hop the demo times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hop {
    ConfirmToCar,
    BreakdownToReplan,
    ReturnToClaim,
    ImportToNotice,
    ComplaintToDispute,
}

impl Hop {
    pub fn name(self) -> &'static str {
        match self {
            Hop::ConfirmToCar => "confirmation → car on the order",
            Hop::BreakdownToReplan => "breakdown → order re-planned",
            Hop::ReturnToClaim => "return with damage → claim opened",
            Hop::ImportToNotice => "violation import → notice sent",
            Hop::ComplaintToDispute => "complaint opened → dispute pause",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Hop::ConfirmToCar => "confirm_to_car",
            Hop::BreakdownToReplan => "breakdown_to_replan",
            Hop::ReturnToClaim => "return_to_claim",
            Hop::ImportToNotice => "import_to_notice",
            Hop::ComplaintToDispute => "complaint_to_dispute",
        }
    }
}

/// What the figures cover.
pub(crate) struct Scope {
    pub city: String,
    pub seed: u64,
    pub cars: u32,
    pub week_start: OffsetDateTime,
    pub live_from: OffsetDateTime,
    pub orders: BTreeSet<String>,
    pub week_orders: BTreeSet<String>,
    pub plates: BTreeSet<String>,
    pub authority_refs: BTreeSet<String>,
    pub case_ids: Vec<String>,
    pub seq: [u64; 4],
    pub imports: Vec<rpb::ImportSummary>,
    pub breakdown_note: Option<String>,
    pub replan_note: Option<String>,
    pub hops: BTreeMap<Hop, (Vec<StdDuration>, u32)>,
}

/// Latency of one hop: the samples' percentiles (nearest rank) and how many never showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    pub samples: usize,
    pub missed: u32,
    pub p50: Option<StdDuration>,
    pub p99: Option<StdDuration>,
}

fn percentile(sorted: &[StdDuration], p: f64) -> Option<StdDuration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The figures of the week, as the services give them.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub city: String,
    pub seed: u64,
    pub cars: u32,
    pub week: (String, String),
    pub live_from: String,
    /// Orders of the backlog week by channel (partner code for partners) and status.
    pub orders: BTreeMap<(String, String), u32>,
    /// Live orders by status, and how many carry a car from the plan or are at risk.
    pub live_orders: BTreeMap<String, u32>,
    pub live_assigned: u32,
    pub live_at_risk: u32,
    pub swaps: u32,
    pub contact_attempts: u32,
    pub kpi_due: u32,
    pub kpi_fulfilled: u32,
    pub kpi_on_rent_hours: f64,
    pub kpi_available_hours: f64,
    pub plan: Option<fpb::PlanSummary>,
    /// Fleet's KPIs of the live days, as planned, per day: orders, fulfilled, idle rate.
    pub live_kpis: Vec<(String, u32, u32, Option<f64>)>,
    pub breakdown_note: Option<String>,
    /// What fleet did about the breakdown, when this run reported it.
    pub replan_note: Option<String>,
    pub imported: [u32; 5],
    pub violations_by_status: BTreeMap<String, u32>,
    pub ladder_steps: BTreeMap<String, u32>,
    pub next_ladder_step: Option<(String, String)>,
    pub disputed: u32,
    pub claims_opened: u32,
    pub claims_confirmed: u32,
    pub claims_charged: u32,
    pub claims_charged_fen: i64,
    pub payments: u32,
    pub payments_fen: i64,
    pub cases_by_status: BTreeMap<String, u32>,
    pub cases_by_severity: BTreeMap<String, u32>,
    pub reopened: u32,
    pub escalated: u32,
    pub clocks: BTreeMap<String, u32>,
    pub top_categories: Vec<(String, i64)>,
    pub keywords: Vec<(String, Vec<String>)>,
    pub hot_spots: Vec<String>,
    pub latency: BTreeMap<Hop, Latency>,
    pub wall_time: StdDuration,
}

fn within(min_sequence: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence,
        timeout_ms: 10_000,
    })
}

fn page(token: String) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 500,
        page_token: token,
    })
}

fn day(t: OffsetDateTime) -> String {
    t.to_offset(CHINA).date().to_string()
}

pub(crate) async fn read(
    oc: &mut OrderServiceClient<Channel>,
    fc: &mut FleetServiceClient<Channel>,
    rc: &mut ReceivablesServiceClient<Channel>,
    cc: &mut ComplaintServiceClient<Channel>,
    s: Scope,
) -> anyhow::Result<Figures> {
    let week_end = s.week_start + Duration::days(7);
    let mut f = Figures {
        city: s.city.clone(),
        seed: s.seed,
        cars: s.cars,
        week: (day(s.week_start), day(week_end - Duration::days(1))),
        live_from: rentops_kernel::timestamp::to_rfc3339(s.live_from).unwrap_or_default(),
        orders: BTreeMap::new(),
        live_orders: BTreeMap::new(),
        live_assigned: 0,
        live_at_risk: 0,
        swaps: 0,
        contact_attempts: 0,
        kpi_due: 0,
        kpi_fulfilled: 0,
        kpi_on_rent_hours: 0.0,
        kpi_available_hours: 0.0,
        plan: None,
        live_kpis: Vec::new(),
        breakdown_note: s.breakdown_note.clone(),
        replan_note: s.replan_note.clone(),
        imported: [0; 5],
        violations_by_status: BTreeMap::new(),
        ladder_steps: BTreeMap::new(),
        next_ladder_step: None,
        disputed: 0,
        claims_opened: 0,
        claims_confirmed: 0,
        claims_charged: 0,
        claims_charged_fen: 0,
        payments: 0,
        payments_fen: 0,
        cases_by_status: BTreeMap::new(),
        cases_by_severity: BTreeMap::new(),
        reopened: 0,
        escalated: 0,
        clocks: BTreeMap::new(),
        top_categories: Vec::new(),
        keywords: Vec::new(),
        hot_spots: Vec::new(),
        latency: BTreeMap::new(),
        wall_time: StdDuration::ZERO,
    };

    // Orders: the week's and the live days', as the order service lists them.
    let mut token = String::new();
    loop {
        let r = oc
            .list_orders(opb::ListOrdersRequest {
                city: s.city.clone(),
                pickup_from: Some(ts(s.week_start - Duration::days(1))),
                page: page(token),
                consistency: within(s.seq[0]),
                ..Default::default()
            })
            .await
            .context("listing the orders")?
            .into_inner();
        for o in r.orders.iter().filter(|o| s.orders.contains(&o.order_id)) {
            let status = opb::OrderStatus::try_from(o.status)
                .map(|st| st.as_str_name().trim_start_matches("ORDER_STATUS_").to_owned())
                .unwrap_or_else(|_| o.status.to_string());
            if s.week_orders.contains(&o.order_id) {
                let channel = if o.partner_code.is_empty() {
                    opb::Channel::try_from(o.channel)
                        .map(|c| c.as_str_name().trim_start_matches("CHANNEL_").to_owned())
                        .unwrap_or_default()
                } else {
                    format!("PARTNER {}", o.partner_code)
                };
                *f.orders.entry((channel, status)).or_default() += 1;
                f.swaps += o.swaps.len() as u32;
                f.contact_attempts += o.contact_attempts;
            } else {
                *f.live_orders.entry(status).or_default() += 1;
                if !o.assigned_vehicle_id.is_empty() {
                    f.live_assigned += 1;
                }
                if o.at_risk {
                    f.live_at_risk += 1;
                }
            }
        }
        token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            break;
        }
    }

    // Fleet: the week's KPIs (actual) and the plan in force for the live days.
    let kpis = fc
        .get_kpis(fpb::GetKpisRequest {
            city: s.city.clone(),
            from_day: f.week.0.clone(),
            to_day: f.week.1.clone(),
            consistency: within(s.seq[1]),
            ..Default::default()
        })
        .await
        .context("reading fleet's KPIs")?
        .into_inner();
    for row in &kpis.rows {
        f.kpi_due += row.due_orders;
        f.kpi_fulfilled += row.fulfilled_orders;
        f.kpi_on_rent_hours += row.on_rent_hours;
        f.kpi_available_hours += row.available_hours;
    }
    let live = fc
        .get_kpis(fpb::GetKpisRequest {
            city: s.city.clone(),
            from_day: day(s.live_from),
            to_day: day(s.live_from + Duration::days(3)),
            consistency: within(s.seq[1]),
            ..Default::default()
        })
        .await
        .context("reading fleet's KPIs of the live days")?
        .into_inner();
    f.live_kpis = live
        .rows
        .iter()
        .map(|r| {
            (
                r.day.clone(),
                r.planned_orders,
                r.planned_fulfilled,
                r.planned_idle_rate,
            )
        })
        .collect();
    f.plan = fc
        .get_current_plan(fpb::GetCurrentPlanRequest {
            city: s.city.clone(),
            consistency: None,
        })
        .await
        .context("reading fleet's current plan")?
        .into_inner()
        .summary;

    // Receivables: what the feeds' imports answered, then the violations as they stand.
    for i in &s.imports {
        f.imported[0] += i.received;
        f.imported[1] += i.new;
        // Records already recorded: what was received and neither new nor rejected.
        f.imported[2] += i.received.saturating_sub(i.new).saturating_sub(i.rejected.len() as u32);
        f.imported[3] += i.matched;
        f.imported[4] += i.exceptions;
    }
    let mut next: Option<(OffsetDateTime, String)> = None;
    for plate in &s.plates {
        let mut token = String::new();
        loop {
            let r = rc
                .list_violations(rpb::ListViolationsRequest {
                    plate: plate.clone(),
                    page: page(token),
                    consistency: within(s.seq[2]),
                    ..Default::default()
                })
                .await
                .context("listing violations")?
                .into_inner();
            for v in r.violations.iter().filter(|v| {
                v.record
                    .as_ref()
                    .is_some_and(|r| s.authority_refs.contains(&r.authority_ref))
            }) {
                let status = rpb::ViolationStatus::try_from(v.status)
                    .map(|st| st.as_str_name().trim_start_matches("VIOLATION_STATUS_").to_owned())
                    .unwrap_or_default();
                *f.violations_by_status.entry(status).or_default() += 1;
                if let Ok(step) = rpb::LadderStep::try_from(v.last_step)
                    && step != rpb::LadderStep::Unspecified
                {
                    let name = step.as_str_name().trim_start_matches("LADDER_STEP_").to_owned();
                    *f.ladder_steps.entry(name).or_default() += 1;
                }
                if !v.disputes.is_empty() {
                    f.disputed += 1;
                }
                if let (Some(due), Ok(step)) = (from_ts(&v.next_step_due_at), rpb::LadderStep::try_from(v.next_step))
                    && step != rpb::LadderStep::Unspecified
                    && next.as_ref().is_none_or(|(t, _)| due < *t)
                {
                    next = Some((due, step.as_str_name().trim_start_matches("LADDER_STEP_").to_owned()));
                }
            }
            token = r.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
    }
    f.next_ladder_step = next.map(|(t, step)| (step, rentops_kernel::timestamp::to_rfc3339(t).unwrap_or_default()));

    // Claims and the payments against them.
    let claims = rc
        .list_claims(rpb::ListClaimsRequest {
            consistency: within(s.seq[2]),
            ..Default::default()
        })
        .await
        .context("listing claims")?
        .into_inner()
        .claims;
    let mut charged = Fen::ZERO;
    let mut customers = BTreeSet::new();
    for c in claims
        .iter()
        .filter(|c| c.opened.as_ref().is_some_and(|o| s.orders.contains(&o.order_id)))
    {
        f.claims_opened += 1;
        if c.status == rpb::ClaimStatus::Confirmed as i32 {
            f.claims_confirmed += 1;
        }
        if !c.charge_booking_id.is_empty() {
            f.claims_charged += 1;
            let total = Fen(c.liability.as_ref().map_or(0, |l| l.total_fen));
            charged = charged.checked_add(total).context("the claims' charges overflow")?;
            if let Some(o) = &c.opened {
                customers.insert(o.customer_id.clone());
            }
        }
    }
    f.claims_charged_fen = charged.0;
    let mut paid = Fen::ZERO;
    for customer in &customers {
        let mut token = String::new();
        loop {
            let st = rc
                .get_statement(rpb::GetStatementRequest {
                    customer_id: customer.clone(),
                    as_of: String::new(),
                    consistency: within(s.seq[2]),
                    page: page(token),
                })
                .await
                .with_context(|| format!("reading the statement of {customer}"))?
                .into_inner();
            for line in st.lines.iter().filter(|l| l.kind == rpb::BookingKind::Payment as i32) {
                f.payments += 1;
                paid = paid
                    .checked_add(Fen(line.credit_fen))
                    .context("the payments overflow")?;
            }
            token = st.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
    }
    f.payments_fen = paid.0;

    // Complaints: each case as it stands, and the analysis of the days around the live ones.
    for id in &s.case_ids {
        let c = cc
            .get_case(cpb::GetCaseRequest {
                case_id: id.clone(),
                consistency: within(s.seq[3]),
            })
            .await
            .with_context(|| format!("reading case {id}"))?
            .into_inner();
        *f.cases_by_status.entry(c.status.clone()).or_default() += 1;
        *f.cases_by_severity.entry(c.severity.clone()).or_default() += 1;
        f.reopened += c.reopened;
        if c.escalated {
            f.escalated += 1;
        }
        for clock in &c.clocks {
            let name = cpb::SlaClock::try_from(clock.clock)
                .map(|k| k.as_str_name().trim_start_matches("SLA_CLOCK_").to_ascii_lowercase())
                .unwrap_or_default();
            *f.clocks.entry(format!("{name} {}", clock.state)).or_default() += 1;
        }
    }
    let today = OffsetDateTime::now_utc().to_offset(CHINA).date();
    let period_to = (today + Duration::days(1)).midnight().assume_offset(CHINA);
    let analysis = cc
        .analyze_complaints(cpb::AnalyzeComplaintsRequest {
            period_from: Some(ts(period_to - Duration::days(7))),
            period_to: Some(ts(period_to)),
            top: 5,
            repeat_min_cases: 0,
            consistency: within(s.seq[3]),
        })
        .await
        .context("analysing the complaints")?
        .into_inner();
    f.top_categories = analysis
        .categories
        .iter()
        .map(|t| (t.value.clone(), t.current))
        .collect();
    f.keywords = analysis
        .keywords
        .iter()
        .map(|k| {
            (
                k.category.clone(),
                k.keywords.iter().take(5).map(|w| w.term.clone()).collect(),
            )
        })
        .collect();
    f.hot_spots = analysis
        .hot_spots
        .iter()
        .map(|h| format!("{} ({} cases, previous {})", h.category, h.current, h.previous))
        .collect();

    for (hop, (samples, missed)) in &s.hops {
        let mut sorted = samples.clone();
        sorted.sort();
        f.latency.insert(
            *hop,
            Latency {
                samples: sorted.len(),
                missed: *missed,
                p50: percentile(&sorted, 0.50),
                p99: percentile(&sorted, 0.99),
            },
        );
    }
    Ok(f)
}

fn ms(d: Option<StdDuration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0))
}

fn yuan(fen: i64) -> String {
    Fen(fen).to_string()
}

fn rate(num: f64, den: f64) -> String {
    if den > 0.0 {
        format!("{:.1} %", num / den * 100.0)
    } else {
        "no figure".into()
    }
}

impl Figures {
    /// The figures that must come out the same on a second run of the seed (everything the
    /// services report; not the latency, which is measured anew, nor the analysis of the days
    /// around the run, which moves with the date).
    pub fn stable(&self) -> serde_json::Value {
        let mut v = self.json();
        if let Some(o) = v.as_object_mut() {
            o.remove("latency");
            o.remove("wall_time_ms");
            o.remove("complaints_analysis");
            o.remove("imported");
            o.remove("breakdown_replan");
            // Available hours of days under way grow with the clock.
            o.remove("live_kpis_planned");
            if let Some(c) = o.get_mut("complaints").and_then(|c| c.as_object_mut()) {
                c.remove("clocks");
            }
            if let Some(p) = o.get_mut("plan").and_then(|c| c.as_object_mut()) {
                p.remove("planned_at");
            }
        }
        v
    }

    pub fn json(&self) -> serde_json::Value {
        let orders: Vec<_> = self
            .orders
            .iter()
            .map(|((c, s), n)| json!({"channel": c, "status": s, "orders": n}))
            .collect();
        let latency: serde_json::Map<String, serde_json::Value> = self
            .latency
            .iter()
            .map(|(hop, l)| {
                (
                    hop.key().to_owned(),
                    json!({
                        "hop": hop.name(),
                        "samples": l.samples,
                        "not_seen_within_30s": l.missed,
                        "p50_ms": l.p50.map(|d| d.as_secs_f64() * 1000.0),
                        "p99_ms": l.p99.map(|d| d.as_secs_f64() * 1000.0),
                    }),
                )
            })
            .collect();
        json!({
            "city": self.city,
            "seed": self.seed,
            "cars": self.cars,
            "week": {"from": self.week.0, "to": self.week.1},
            "live_from": self.live_from,
            "orders": orders,
            "contact_attempts": self.contact_attempts,
            "swaps": self.swaps,
            "live_orders": {"by_status": self.live_orders, "with_car": self.live_assigned, "at_risk": self.live_at_risk},
            "fleet_kpis": {
                "due": self.kpi_due,
                "fulfilled": self.kpi_fulfilled,
                "on_rent_hours": (self.kpi_on_rent_hours * 10.0).round() / 10.0,
                "available_hours": (self.kpi_available_hours * 10.0).round() / 10.0,
            },
            "live_kpis_planned": self
                .live_kpis
                .iter()
                .map(|(d, o, f, idle)| json!({"day": d, "orders": o, "fulfilled": f, "idle_rate": idle}))
                .collect::<Vec<_>>(),
            "plan": self.plan.as_ref().map(|p| json!({
                "plan_id": p.plan_id,
                "planned_at": from_ts(&p.planned_at).and_then(|t| rentops_kernel::timestamp::to_rfc3339(t).ok()),
                "orders": p.orders,
                "fulfilled": p.fulfilled,
                "upgrades": p.upgrades,
                "at_risk": p.at_risk,
                "relocation_minutes": p.relocation_minutes,
                "proven_optimal": p.proven_optimal,
            })),
            "breakdown": self.breakdown_note,
            "breakdown_replan": self.replan_note,
            "imported": {
                "received": self.imported[0],
                "new": self.imported[1],
                "repeated": self.imported[2],
                "matched": self.imported[3],
                "exceptions": self.imported[4],
            },
            "violations": {
                "by_status": self.violations_by_status,
                "ladder_steps_taken": self.ladder_steps,
                "next_step": self.next_ladder_step.as_ref().map(|(s, t)| json!({"step": s, "due_at": t})),
                "disputed": self.disputed,
            },
            "claims": {
                "opened": self.claims_opened,
                "confirmed": self.claims_confirmed,
                "charged": self.claims_charged,
                "charged_fen": self.claims_charged_fen,
            },
            "payments": {"count": self.payments, "amount_fen": self.payments_fen},
            "complaints": {
                "by_status": self.cases_by_status,
                "by_severity": self.cases_by_severity,
                "reopened": self.reopened,
                "escalated": self.escalated,
                "clocks": self.clocks,
            },
            "complaints_analysis": {
                "top_categories": self.top_categories,
                "keywords": self.keywords,
                "hot_spots": self.hot_spots,
            },
            "latency": latency,
            "wall_time_ms": self.wall_time.as_millis() as u64,
        })
    }

    pub fn text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "rentops demo week — city {}, seed {}, {} cars; backlog week {} to {}, live days from {}",
            self.city, self.seed, self.cars, self.week.0, self.week.1, self.live_from
        );
        let _ = writeln!(t, "\nOrders of the week (order service), by channel and status:");
        let channels: BTreeSet<&String> = self.orders.keys().map(|(c, _)| c).collect();
        let statuses: BTreeSet<&String> = self.orders.keys().map(|(_, s)| s).collect();
        let _ = write!(t, "  {:<16}", "");
        for s in &statuses {
            let _ = write!(t, "{:>11}", s);
        }
        let _ = writeln!(t, "{:>8}", "total");
        for c in &channels {
            let _ = write!(t, "  {:<16}", c);
            let mut total = 0;
            for s in &statuses {
                let n = self.orders.get(&((*c).clone(), (*s).clone())).copied().unwrap_or(0);
                total += n;
                let _ = write!(t, "{:>11}", n);
            }
            let _ = writeln!(t, "{:>8}", total);
        }
        let all: u32 = self.orders.values().sum();
        let _ = writeln!(
            t,
            "  {all} orders, {} confirmation calls, {} swaps after breakdowns",
            self.contact_attempts, self.swaps
        );
        let _ = writeln!(t, "\nFleet (fleet service):");
        let _ = writeln!(
            t,
            "  week's fulfilment: {} of {} due orders fulfilled ({})",
            self.kpi_fulfilled,
            self.kpi_due,
            rate(f64::from(self.kpi_fulfilled), f64::from(self.kpi_due))
        );
        let idle = if self.kpi_available_hours > 0.0 {
            format!(
                "{:.1} %",
                (1.0 - self.kpi_on_rent_hours / self.kpi_available_hours) * 100.0
            )
        } else {
            "no figure (the cars were registered at set-up, after that week)".into()
        };
        let _ = writeln!(
            t,
            "  week's idle rate: {idle}; {:.0} on-rent vehicle-hours",
            self.kpi_on_rent_hours
        );
        let live: u32 = self.live_orders.values().sum();
        let live_status: Vec<String> = self.live_orders.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let _ = writeln!(
            t,
            "  live days: {live} orders ({}); {} with a car from the plan, {} at risk",
            live_status.join(", "),
            self.live_assigned,
            self.live_at_risk
        );
        let days: Vec<String> = self
            .live_kpis
            .iter()
            .filter(|(_, o, _, _)| *o > 0)
            .map(|(d, o, f, idle)| {
                let idle = idle.map_or_else(|| "no figure".into(), |i| format!("{:.1} %", i * 100.0));
                format!("{d}: {f} of {o} fulfilled, idle {idle}")
            })
            .collect();
        if !days.is_empty() {
            let _ = writeln!(t, "  live days' KPIs as planned: {}", days.join("; "));
        }
        if let Some(p) = &self.plan {
            let _ = writeln!(
                t,
                "  plan in force: {} orders, {} fulfilled, {} upgrades, {} at risk, {} relocation minutes{}",
                p.orders,
                p.fulfilled,
                p.upgrades,
                p.at_risk,
                p.relocation_minutes,
                if p.proven_optimal { ", proven optimal" } else { "" }
            );
        }
        if let Some(b) = &self.breakdown_note {
            let _ = writeln!(t, "  {b}");
        }
        if let Some(r) = &self.replan_note {
            let _ = writeln!(t, "  {r}");
        }
        let _ = writeln!(t, "\nViolations (receivables service):");
        let _ = writeln!(
            t,
            "  imported in 3 feeds: {} records, {} new, {} repeated, {} matched on import, {} to exceptions",
            self.imported[0], self.imported[1], self.imported[2], self.imported[3], self.imported[4]
        );
        let by: Vec<String> = self
            .violations_by_status
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let _ = writeln!(t, "  now: {}", by.join(", "));
        let steps: Vec<String> = self.ladder_steps.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let _ = writeln!(
            t,
            "  dunning ladder, the last step each has reached: {}",
            if steps.is_empty() {
                "none".into()
            } else {
                steps.join(", ")
            }
        );
        if let Some((step, at)) = &self.next_ladder_step {
            let _ = writeln!(
                t,
                "  next ladder step: {step}, first due {at} (counted from the notice)"
            );
        }
        let _ = writeln!(t, "  disputed (ladder paused by an open complaint): {}", self.disputed);
        let _ = writeln!(t, "\nRepair claims and payments (receivables service):");
        let _ = writeln!(
            t,
            "  {} claims opened, {} confirmed, {} charged for {} CNY; {} payments for {} CNY",
            self.claims_opened,
            self.claims_confirmed,
            self.claims_charged,
            yuan(self.claims_charged_fen),
            self.payments,
            yuan(self.payments_fen)
        );
        let _ = writeln!(t, "\nComplaints (complaint service):");
        let cases: u32 = self.cases_by_status.values().sum();
        let by: Vec<String> = self.cases_by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let sev: Vec<String> = self.cases_by_severity.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let _ = writeln!(t, "  {cases} cases: {}; severity {}", by.join(", "), sev.join(", "));
        let _ = writeln!(t, "  reopened {} times, {} escalated", self.reopened, self.escalated);
        let clocks: Vec<String> = self.clocks.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let _ = writeln!(t, "  SLA clocks now: {}", clocks.join(", "));
        let top: Vec<String> = self.top_categories.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = writeln!(t, "  top categories: {}", top.join(", "));
        for (c, words) in &self.keywords {
            let _ = writeln!(t, "  keywords {c}: {}", words.join("、"));
        }
        let _ = writeln!(
            t,
            "  hot spots: {}",
            if self.hot_spots.is_empty() {
                "none".into()
            } else {
                self.hot_spots.join("; ")
            }
        );
        let _ = writeln!(
            t,
            "\nLatency under the demo's load, from a command's acknowledgement to its effect in another service\n\
             (measured by the demo, polling every 10 ms):"
        );
        for (hop, l) in &self.latency {
            let missed = if l.missed > 0 {
                format!(", {} not seen within 30 s", l.missed)
            } else {
                String::new()
            };
            let _ = writeln!(
                t,
                "  {:<36} p50 {:>7}  p99 {:>7}  ({} samples{missed})",
                hop.name(),
                ms(l.p50),
                ms(l.p99),
                l.samples
            );
        }
        if self.latency.values().all(|l| l.samples == 0) {
            let _ = writeln!(
                t,
                "  no samples: every command had been applied before (a second run of the seed)"
            );
        }
        let _ = writeln!(t, "\nWall time: {:.1} s", self.wall_time.as_secs_f64());
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms = |n: u64| StdDuration::from_millis(n);
        let v: Vec<_> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&v, 0.5), Some(ms(50)));
        assert_eq!(percentile(&v, 0.99), Some(ms(99)));
        assert_eq!(percentile(&[ms(7)], 0.99), Some(ms(7)));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
