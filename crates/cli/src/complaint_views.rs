//! The complaint group's answers as tables (and, through serde, as JSON): a case with its
//! clocks and timeline, the case list, the taxonomy, a period's analysis, hot spots.

use rentops_proto::complaint as pb;
use serde::Serialize;

use crate::format::{Times, format_fen};
use crate::requests::Context;
use crate::views::{View, cell, grid, next_page_hint, pairs};

/// Seconds as `3d 4h 05m` (negative: `-1h 10m`).
fn span(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.unsigned_abs();
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{sign}{d}d {h}h {m:02}m")
    } else {
        format!("{sign}{h}h {m:02}m")
    }
}

fn percent(r: Option<f64>) -> String {
    r.map_or("-".to_owned(), |r| format!("{:.1} %", r * 100.0))
}

#[derive(Debug, Serialize)]
pub struct OpenedView {
    pub case_id: String,
    pub severity: String,
    pub severity_basis: String,
    pub sequence: u64,
    pub events_appended: u32,
    pub request_id: String,
}

impl OpenedView {
    pub fn new(r: &pb::OpenCaseResponse, ctx: &Context) -> Self {
        let res = r.result.clone().unwrap_or_default();
        Self {
            case_id: r.case_id.clone(),
            severity: r.severity.clone(),
            severity_basis: r.severity_basis.clone(),
            sequence: res.sequence,
            events_appended: res.events_appended,
            request_id: ctx.request_id.clone(),
        }
    }
}

impl View for OpenedView {
    fn table(&self) -> String {
        pairs(vec![
            ("case_id", self.case_id.clone()),
            ("severity", format!("{} ({})", self.severity, self.severity_basis)),
            ("sequence", self.sequence.to_string()),
            ("events_appended", self.events_appended.to_string()),
            ("request_id", self.request_id.clone()),
        ])
    }
}

#[derive(Debug, Serialize)]
pub struct ClockView {
    pub clock: String,
    pub policy: String,
    pub business_hours: bool,
    pub state: String,
    pub target_seconds: i64,
    pub spent_seconds: i64,
    pub left_seconds: i64,
    pub at_risk_at: Option<String>,
    pub breach_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TimelineView {
    pub sequence: u64,
    pub at: Option<String>,
    pub event: String,
    pub actor: String,
    pub summary: String,
}

#[derive(Debug, Serialize)]
pub struct CaseView {
    pub case: serde_json::Value,
    #[serde(skip)]
    rows: Vec<(&'static str, String)>,
    pub clocks: Vec<ClockView>,
    pub timeline: Vec<TimelineView>,
}

impl CaseView {
    pub fn new(c: &pb::Case, times: Times) -> Self {
        let l = c.links.clone().unwrap_or_default();
        let link = |name: &str, v: &str| (!v.is_empty()).then(|| format!("{name} {v}"));
        let links: Vec<String> = [
            link("order", &l.order_id),
            link("vehicle", &l.vehicle_id),
            link("violation", &l.violation_id),
            link("claim", &l.claim_id),
            link("charge", &l.charge_booking_id),
        ]
        .into_iter()
        .flatten()
        .collect();
        let remedies: Vec<String> = c
            .remedies
            .iter()
            .filter_map(|r| r.remedy.as_ref())
            .map(|r| match r {
                pb::remedy::Remedy::Waive(w) => match &w.amount {
                    Some(m) => format!("waive {} of the charge", format_fen(m.amount_fen)),
                    None => "waive the charge".to_owned(),
                },
                pb::remedy::Remedy::Voucher(m) => format!("voucher {}", format_fen(m.amount_fen)),
                pb::remedy::Remedy::Refund(m) => format!("refund {}", format_fen(m.amount_fen)),
            })
            .collect();
        let rows = vec![
            ("case_id", c.case_id.clone()),
            ("status", c.status.clone()),
            ("severity", format!("{} ({})", c.severity, c.severity_basis)),
            ("channel", c.channel.clone()),
            ("category", format!("{} / {}", c.category, c.sub_category)),
            ("customer", l.customer_id.clone()),
            ("links", cell(Some(&links.join(", ")))),
            (
                "city / model",
                format!("{} / {}", cell(Some(&c.city)), cell(Some(&c.vehicle_model))),
            ),
            ("text", c.text.clone()),
            ("agent", cell(Some(&c.agent))),
            ("root cause", cell(Some(&c.root_cause))),
            ("opened", cell(times.opt(c.opened_at.as_ref()).as_deref())),
            (
                "first response",
                cell(times.opt(c.first_response_at.as_ref()).as_deref()),
            ),
            ("resolved", cell(times.opt(c.resolved_at.as_ref()).as_deref())),
            ("explanation", cell(Some(&c.explanation))),
            ("remedies", cell(Some(&remedies.join(", ")))),
            ("closed", cell(times.opt(c.closed_at.as_ref()).as_deref())),
            ("reopened", c.reopened.to_string()),
            ("escalated", if c.escalated { "yes" } else { "no" }.to_owned()),
        ];
        let case = serde_json::json!({
            "case_id": c.case_id,
            "status": c.status,
            "severity": c.severity,
            "severity_basis": c.severity_basis,
            "channel": c.channel,
            "category": c.category,
            "sub_category": c.sub_category,
            "customer_id": l.customer_id,
            "order_id": l.order_id,
            "vehicle_id": l.vehicle_id,
            "violation_id": l.violation_id,
            "claim_id": l.claim_id,
            "charge_booking_id": l.charge_booking_id,
            "city": c.city,
            "vehicle_model": c.vehicle_model,
            "text": c.text,
            "agent": c.agent,
            "root_cause": c.root_cause,
            "opened_at": times.opt(c.opened_at.as_ref()),
            "first_response_at": times.opt(c.first_response_at.as_ref()),
            "resolved_at": times.opt(c.resolved_at.as_ref()),
            "explanation": c.explanation,
            "remedies": remedies,
            "closed_at": times.opt(c.closed_at.as_ref()),
            "reopened": c.reopened,
            "escalated": c.escalated,
        });
        Self {
            case,
            rows,
            clocks: c
                .clocks
                .iter()
                .map(|k| ClockView {
                    clock: match pb::SlaClock::try_from(k.clock) {
                        Ok(pb::SlaClock::FirstResponse) => "first response".to_owned(),
                        Ok(pb::SlaClock::Resolution) => "resolution".to_owned(),
                        _ => k.clock.to_string(),
                    },
                    policy: k.policy.clone(),
                    business_hours: k.business_hours,
                    state: k.state.clone(),
                    target_seconds: k.target_seconds,
                    spent_seconds: k.spent_seconds,
                    left_seconds: k.left_seconds,
                    at_risk_at: times.opt(k.at_risk_at.as_ref()),
                    breach_at: times.opt(k.breach_at.as_ref()),
                })
                .collect(),
            timeline: c
                .timeline
                .iter()
                .map(|t| TimelineView {
                    sequence: t.sequence,
                    at: times.opt(t.at.as_ref()),
                    event: t.event.clone(),
                    actor: t.actor.clone(),
                    summary: t.summary.clone(),
                })
                .collect(),
        }
    }
}

impl View for CaseView {
    fn table(&self) -> String {
        let mut out = pairs(self.rows.clone());
        out.push('\n');
        let clocks = self
            .clocks
            .iter()
            .map(|k| {
                vec![
                    k.clock.clone(),
                    k.state.clone(),
                    span(k.target_seconds),
                    span(k.spent_seconds),
                    span(k.left_seconds),
                    cell(k.at_risk_at.as_deref()),
                    cell(k.breach_at.as_deref()),
                    format!(
                        "{}{}",
                        k.policy,
                        if k.business_hours { " (business hours)" } else { "" }
                    ),
                ]
            })
            .collect();
        out += &grid(
            Some(&[
                "CLOCK",
                "STATE",
                "TARGET",
                "SPENT",
                "LEFT",
                "AT RISK AT",
                "BREACH AT",
                "POLICY",
            ]),
            clocks,
        );
        out.push('\n');
        let timeline = self
            .timeline
            .iter()
            .map(|t| {
                vec![
                    t.sequence.to_string(),
                    cell(t.at.as_deref()),
                    t.event.clone(),
                    t.actor.clone(),
                    t.summary.clone(),
                ]
            })
            .collect();
        out + &grid(Some(&["SEQ", "AT", "EVENT", "ACTOR", "WHAT"]), timeline)
    }
}

#[derive(Debug, Serialize)]
pub struct CaseRowView {
    pub case_id: String,
    pub opened_at: Option<String>,
    pub status: String,
    pub severity: String,
    pub channel: String,
    pub category: String,
    pub sub_category: String,
    pub customer_id: String,
    pub agent: String,
    pub escalated: bool,
    pub next_due_at: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct CaseListView {
    pub cases: Vec<CaseRowView>,
    pub next_page_token: String,
}

impl CaseListView {
    pub fn extend(&mut self, r: &pb::ListCasesResponse, times: Times) {
        self.cases.extend(r.cases.iter().map(|c| CaseRowView {
            case_id: c.case_id.clone(),
            opened_at: times.opt(c.opened_at.as_ref()),
            status: c.status.clone(),
            severity: c.severity.clone(),
            channel: c.channel.clone(),
            category: c.category.clone(),
            sub_category: c.sub_category.clone(),
            customer_id: c.customer_id.clone(),
            agent: c.agent.clone(),
            escalated: c.escalated,
            next_due_at: times.opt(c.next_due_at.as_ref()),
        }));
        self.next_page_token = r.page.as_ref().map(|p| p.next_page_token.clone()).unwrap_or_default();
    }
}

impl View for CaseListView {
    fn table(&self) -> String {
        if self.cases.is_empty() {
            return "no cases\n".to_owned() + &next_page_hint(&self.next_page_token);
        }
        let rows = self
            .cases
            .iter()
            .map(|c| {
                vec![
                    c.case_id.clone(),
                    cell(c.opened_at.as_deref()),
                    c.status.clone(),
                    c.severity.clone(),
                    c.channel.clone(),
                    format!("{}/{}", c.category, c.sub_category),
                    c.customer_id.clone(),
                    cell(Some(&c.agent)),
                    if c.escalated { "yes" } else { "" }.to_owned(),
                    cell(c.next_due_at.as_deref()),
                ]
            })
            .collect();
        grid(
            Some(&[
                "CASE",
                "OPENED",
                "STATUS",
                "SEV",
                "CHANNEL",
                "CATEGORY",
                "CUSTOMER",
                "AGENT",
                "ESCALATED",
                "NEXT DUE",
            ]),
            rows,
        ) + &next_page_hint(&self.next_page_token)
    }
}

#[derive(Debug, Serialize)]
pub struct TaxonomyView {
    pub categories: Vec<serde_json::Value>,
    pub root_causes: Vec<serde_json::Value>,
    #[serde(skip)]
    rows: Vec<Vec<String>>,
    #[serde(skip)]
    causes: Vec<Vec<String>>,
}

impl TaxonomyView {
    pub fn new(t: &pb::Taxonomy) -> Self {
        let mut rows = Vec::new();
        for c in &t.categories {
            for s in &c.sub_categories {
                rows.push(vec![c.code.clone(), s.code.clone(), s.severity.clone(), s.name.clone()]);
            }
        }
        Self {
            categories: t
                .categories
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "code": c.code,
                        "name": c.name,
                        "sub_categories": c.sub_categories.iter().map(|s| serde_json::json!({
                            "code": s.code, "name": s.name, "severity": s.severity,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
            root_causes: t
                .root_causes
                .iter()
                .map(|r| serde_json::json!({"code": r.code, "name": r.name}))
                .collect(),
            rows,
            causes: t
                .root_causes
                .iter()
                .map(|r| vec![r.code.clone(), r.name.clone()])
                .collect(),
        }
    }
}

impl View for TaxonomyView {
    fn table(&self) -> String {
        grid(
            Some(&["CATEGORY", "SUB-CATEGORY", "SEVERITY", "NAME"]),
            self.rows.clone(),
        ) + "\n"
            + &grid(Some(&["ROOT CAUSE", "NAME"]), self.causes.clone())
    }
}

#[derive(Debug, Serialize)]
pub struct HotSpotView {
    pub hot_spot_id: String,
    pub category: String,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub current: i64,
    pub previous: i64,
    pub rise_percent: Option<i64>,
    pub brief: Vec<String>,
}

fn hot_spot(h: &pb::HotSpot, times: Times) -> HotSpotView {
    HotSpotView {
        hot_spot_id: h.hot_spot_id.clone(),
        category: h.category.clone(),
        period_start: times.opt(h.period_start.as_ref()),
        period_end: times.opt(h.period_end.as_ref()),
        current: h.current,
        previous: h.previous,
        rise_percent: h.rise_percent,
        brief: h.brief.clone(),
    }
}

fn hot_spots_table(spots: &[HotSpotView]) -> String {
    if spots.is_empty() {
        return "no hot spots\n".to_owned();
    }
    let rows = spots
        .iter()
        .map(|h| {
            vec![
                h.category.clone(),
                format!(
                    "{} → {}",
                    cell(h.period_start.as_deref()),
                    cell(h.period_end.as_deref())
                ),
                format!("{} (before: {})", h.current, h.previous),
                h.rise_percent.map_or("new".to_owned(), |r| format!("+{r} %")),
                h.brief.join("\n"),
            ]
        })
        .collect();
    grid(Some(&["CATEGORY", "PERIOD", "CASES", "RISE", "EVIDENCE"]), rows)
}

#[derive(Debug, Serialize)]
pub struct HotSpotsView {
    pub hot_spots: Vec<HotSpotView>,
}

impl HotSpotsView {
    pub fn new(list: &[pb::HotSpot], times: Times) -> Self {
        Self {
            hot_spots: list.iter().map(|h| hot_spot(h, times)).collect(),
        }
    }
}

impl View for HotSpotsView {
    fn table(&self) -> String {
        hot_spots_table(&self.hot_spots)
    }
}

#[derive(Debug, Serialize)]
pub struct RateView {
    pub value: String,
    pub cases: i64,
    pub orders: i64,
    pub per_thousand: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct TrendView {
    pub value: String,
    pub current: i64,
    pub previous: i64,
    pub change_percent: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct AnalysisView {
    pub period_from: Option<String>,
    pub period_to: Option<String>,
    pub previous_from: Option<String>,
    pub by_city: Vec<RateView>,
    pub by_channel: Vec<RateView>,
    pub by_model: Vec<RateView>,
    pub categories: Vec<TrendView>,
    pub root_causes: Vec<TrendView>,
    pub repeat_customers: Vec<(String, i64)>,
    pub repeat_vehicles: Vec<(String, String, i64)>,
    pub sla: serde_json::Value,
    pub keywords: Vec<(String, Vec<(String, u32)>)>,
    pub hot_spots: Vec<HotSpotView>,
    #[serde(skip)]
    sla_rows: Vec<(&'static str, String)>,
}

fn rates(list: &[pb::Rate]) -> Vec<RateView> {
    list.iter()
        .map(|r| RateView {
            value: r.value.clone(),
            cases: r.cases,
            orders: r.orders,
            per_thousand: r.per_thousand,
        })
        .collect()
}

fn trends(list: &[pb::Trend]) -> Vec<TrendView> {
    list.iter()
        .map(|t| TrendView {
            value: t.value.clone(),
            current: t.current,
            previous: t.previous,
            change_percent: t.change_percent,
        })
        .collect()
}

impl AnalysisView {
    pub fn new(a: &pb::ComplaintAnalysis, times: Times) -> Self {
        let s = a.sla.unwrap_or_default();
        let opt_span = |v: Option<i64>| v.map_or("-".to_owned(), span);
        let sla_rows = vec![
            ("cases", s.cases.to_string()),
            ("escalated", format!("{} ({})", s.escalated, percent(s.escalation_rate))),
            (
                "first response within target",
                format!(
                    "{} of {} ({})",
                    s.first_response_met,
                    s.first_response_stopped,
                    percent(s.first_response_compliance)
                ),
            ),
            (
                "resolution within target",
                format!(
                    "{} of {} ({})",
                    s.resolution_met,
                    s.resolution_stopped,
                    percent(s.resolution_compliance)
                ),
            ),
            (
                "first response p50 / p90",
                format!(
                    "{} / {}",
                    opt_span(s.first_response_p50_seconds),
                    opt_span(s.first_response_p90_seconds)
                ),
            ),
            (
                "resolution p50 / p90",
                format!(
                    "{} / {}",
                    opt_span(s.resolution_p50_seconds),
                    opt_span(s.resolution_p90_seconds)
                ),
            ),
        ];
        Self {
            period_from: times.opt(a.period_from.as_ref()),
            period_to: times.opt(a.period_to.as_ref()),
            previous_from: times.opt(a.previous_from.as_ref()),
            by_city: rates(&a.by_city),
            by_channel: rates(&a.by_channel),
            by_model: rates(&a.by_model),
            categories: trends(&a.categories),
            root_causes: trends(&a.root_causes),
            repeat_customers: a.repeat_customers.iter().map(|r| (r.id.clone(), r.cases)).collect(),
            repeat_vehicles: a
                .repeat_vehicles
                .iter()
                .map(|r| (r.id.clone(), r.model.clone(), r.cases))
                .collect(),
            sla: serde_json::json!({
                "cases": s.cases,
                "escalated": s.escalated,
                "escalation_rate": s.escalation_rate,
                "first_response_stopped": s.first_response_stopped,
                "first_response_met": s.first_response_met,
                "first_response_compliance": s.first_response_compliance,
                "resolution_stopped": s.resolution_stopped,
                "resolution_met": s.resolution_met,
                "resolution_compliance": s.resolution_compliance,
                "first_response_p50_seconds": s.first_response_p50_seconds,
                "first_response_p90_seconds": s.first_response_p90_seconds,
                "resolution_p50_seconds": s.resolution_p50_seconds,
                "resolution_p90_seconds": s.resolution_p90_seconds,
            }),
            keywords: a
                .keywords
                .iter()
                .map(|k| {
                    (
                        k.category.clone(),
                        k.keywords.iter().map(|w| (w.term.clone(), w.cases)).collect(),
                    )
                })
                .collect(),
            hot_spots: a.hot_spots.iter().map(|h| hot_spot(h, times)).collect(),
            sla_rows,
        }
    }
}

fn rate_grid(what: &str, list: &[RateView]) -> String {
    let rows = list
        .iter()
        .map(|r| {
            vec![
                cell(Some(&r.value)),
                r.cases.to_string(),
                r.orders.to_string(),
                r.per_thousand.map_or("-".to_owned(), |p| format!("{p:.2}")),
            ]
        })
        .collect();
    grid(Some(&[what, "CASES", "ORDERS", "PER 1,000 ORDERS"]), rows)
}

fn trend_grid(what: &str, list: &[TrendView]) -> String {
    let rows = list
        .iter()
        .map(|t| {
            vec![
                t.value.clone(),
                t.current.to_string(),
                t.previous.to_string(),
                t.change_percent.map_or("new".to_owned(), |c| format!("{c:+} %")),
            ]
        })
        .collect();
    grid(Some(&[what, "CASES", "BEFORE", "CHANGE"]), rows)
}

impl View for AnalysisView {
    fn table(&self) -> String {
        let mut out = format!(
            "period {} → {} (compared with the period from {})\n\n",
            cell(self.period_from.as_deref()),
            cell(self.period_to.as_deref()),
            cell(self.previous_from.as_deref())
        );
        out += &rate_grid("CITY", &self.by_city);
        out += "\n";
        out += &rate_grid("SALES CHANNEL", &self.by_channel);
        out += "\n";
        out += &rate_grid("MODEL", &self.by_model);
        out += "\n";
        out += &trend_grid("CATEGORY", &self.categories);
        out += "\n";
        out += &trend_grid("ROOT CAUSE", &self.root_causes);
        out += "\n";
        out += &grid(
            Some(&["REPEAT CUSTOMER", "CASES"]),
            self.repeat_customers
                .iter()
                .map(|(c, n)| vec![c.clone(), n.to_string()])
                .collect(),
        );
        out += "\n";
        out += &grid(
            Some(&["REPEAT VEHICLE", "MODEL", "CASES"]),
            self.repeat_vehicles
                .iter()
                .map(|(v, m, n)| vec![v.clone(), cell(Some(m)), n.to_string()])
                .collect(),
        );
        out += "\n";
        out += &pairs(self.sla_rows.clone());
        out += "\n";
        out += &grid(
            Some(&["CATEGORY", "KEYWORDS (CASES)"]),
            self.keywords
                .iter()
                .map(|(c, k)| {
                    vec![
                        c.clone(),
                        k.iter()
                            .map(|(t, n)| format!("{t} ({n})"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect(),
        );
        out += "\n";
        out + &hot_spots_table(&self.hot_spots)
    }
}
