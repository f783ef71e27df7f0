//! What `rentops fleet …` prints: each answer of the fleet service becomes a view that renders as
//! a table for a person or as JSON for a script, like the order commands' (`views.rs`). A rate
//! the service left unset (nothing to divide by) prints as `—` in a table and `null` in JSON.

use rentops_proto::common::CommandResult;
use rentops_proto::fleet as pb;
use serde::Serialize;

use crate::format::{self, Times, hours, rate};
use crate::requests::Context;
use crate::views::{View, cell, grid, next_page_hint, pairs};

fn model(m: i32) -> Option<String> {
    format::model_name(m)
}

/// What a fleet command did: the sequence to read one's own write at, the request id to retry with.
#[derive(Debug, Serialize)]
pub struct FleetCommandView {
    pub aggregate_id: String,
    pub sequence: u64,
    pub events_appended: u32,
    pub request_id: String,
    pub actor: String,
}

impl FleetCommandView {
    pub fn new(r: &CommandResult, ctx: &Context) -> Self {
        Self {
            aggregate_id: r.aggregate_id.clone(),
            sequence: r.sequence,
            events_appended: r.events_appended,
            request_id: ctx.request_id.clone(),
            actor: ctx.actor.clone(),
        }
    }
}

impl View for FleetCommandView {
    fn table(&self) -> String {
        let mut rows = vec![
            ("aggregate_id", self.aggregate_id.clone()),
            ("sequence", self.sequence.to_string()),
            ("events_appended", self.events_appended.to_string()),
            ("request_id", self.request_id.clone()),
            ("actor", self.actor.clone()),
        ];
        if self.events_appended == 0 {
            rows.push(("note", "nothing new was recorded (a retry, or no change)".to_owned()));
        }
        pairs(rows)
    }
}

/// A plan's KPIs: one row of the plan table.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummaryView {
    pub plan_id: String,
    pub planned_at: Option<String>,
    pub trigger: String,
    pub orders: u32,
    pub fulfilled: u32,
    /// `null` when the plan had no order to fulfil.
    pub fulfilment_rate: Option<f64>,
    pub idle_rate: f64,
    pub upgrades: u32,
    pub relocation_minutes: i64,
    pub moved_from_previous: u32,
    pub at_risk: u32,
    pub proven_optimal: bool,
    pub upper_bound_fulfilled: u32,
}

impl PlanSummaryView {
    pub fn new(s: &pb::PlanSummary, times: Times) -> Self {
        Self {
            plan_id: s.plan_id.clone(),
            planned_at: times.opt(s.planned_at.as_ref()),
            trigger: s.trigger.clone(),
            orders: s.orders,
            fulfilled: s.fulfilled,
            fulfilment_rate: (s.orders > 0).then_some(s.fulfilment_rate),
            idle_rate: s.idle_rate,
            upgrades: s.upgrades,
            relocation_minutes: s.relocation_minutes,
            moved_from_previous: s.moved_from_previous,
            at_risk: s.at_risk,
            proven_optimal: s.proven_optimal,
            upper_bound_fulfilled: s.upper_bound_fulfilled,
        }
    }

    /// "optimal", "≤ 41" (the proven most that could be fulfilled) or "-".
    fn bound(&self) -> String {
        match (self.proven_optimal, self.upper_bound_fulfilled) {
            (true, _) => "optimal".to_owned(),
            (false, 0) => "-".to_owned(),
            (false, n) => format!("≤ {n}"),
        }
    }
}

/// Plans as a table, one row each.
fn plan_table(plans: &[PlanSummaryView]) -> String {
    let rows = plans
        .iter()
        .map(|p| {
            vec![
                cell(Some(&p.plan_id)),
                cell(p.planned_at.as_deref()),
                cell(Some(&p.trigger)),
                p.orders.to_string(),
                p.fulfilled.to_string(),
                rate(p.fulfilment_rate),
                rate(Some(p.idle_rate)),
                p.upgrades.to_string(),
                format!("{} min", p.relocation_minutes),
                p.moved_from_previous.to_string(),
                p.at_risk.to_string(),
                p.bound(),
            ]
        })
        .collect();
    let header = [
        "PLAN",
        "PLANNED AT",
        "TRIGGER",
        "ORDERS",
        "FULFILLED",
        "FULFILMENT",
        "IDLE",
        "UPGRADES",
        "RELOCATION",
        "MOVED",
        "AT RISK",
        "BOUND",
    ];
    grid(Some(&header), rows)
}

/// `rentops fleet history`: past plans, newest first.
#[derive(Debug, Serialize)]
pub struct PlanHistoryView {
    pub plans: Vec<PlanSummaryView>,
    pub next_page_token: String,
}

impl View for PlanHistoryView {
    fn table(&self) -> String {
        if self.plans.is_empty() {
            return "no plans for this city yet\n".to_owned();
        }
        plan_table(&self.plans) + &next_page_hint(&self.next_page_token)
    }
}

/// `rentops fleet replan`: the command, and the plan in force after it.
#[derive(Debug, Serialize)]
pub struct ReplanView {
    #[serde(flatten)]
    pub result: FleetCommandView,
    pub plan: Option<PlanSummaryView>,
}

impl View for ReplanView {
    fn table(&self) -> String {
        let plan = match &self.plan {
            Some(p) => plan_table(std::slice::from_ref(p)),
            None => "no plan could be made\n".to_owned(),
        };
        self.result.table() + "\n" + &plan
    }
}

#[derive(Debug, Serialize)]
pub struct AssignmentView {
    pub order: String,
    pub vehicle: String,
    pub plate: String,
    pub model: Option<String>,
    pub upgrade: bool,
}

#[derive(Debug, Serialize)]
pub struct AtRiskView {
    pub order: String,
    pub reason: String,
    pub explanation: String,
    pub flagged_at: Option<String>,
}

impl AtRiskView {
    pub fn new(a: &pb::AtRiskOrder, times: Times) -> Self {
        Self {
            order: a.order_id.clone(),
            reason: a.reason.clone(),
            explanation: a.explanation.clone(),
            flagged_at: times.opt(a.flagged_at.as_ref()),
        }
    }
}

fn at_risk_table(orders: &[AtRiskView]) -> String {
    let rows = orders
        .iter()
        .map(|a| {
            vec![
                a.order.clone(),
                cell(Some(&a.reason)),
                cell(a.flagged_at.as_deref()),
                cell(Some(&a.explanation)),
            ]
        })
        .collect();
    grid(Some(&["ORDER", "REASON", "FLAGGED AT", "EXPLANATION"]), rows)
}

#[derive(Debug, Serialize)]
pub struct TaskView {
    pub order: String,
    /// "delivery", "collection" or "relocation".
    pub kind: String,
    pub driver: String,
    pub from: Option<String>,
    pub station: String,
    pub address: String,
    pub flagged: bool,
    pub reason: String,
    /// A relocation's destination and car.
    pub to_station: String,
    pub vehicle: String,
}

/// `rentops fleet show-plan`: the plan in force, section by section.
#[derive(Debug, Serialize)]
pub struct CurrentPlanView {
    pub summary: Option<PlanSummaryView>,
    pub assignments: Vec<AssignmentView>,
    pub at_risk: Vec<AtRiskView>,
    pub tasks: Vec<TaskView>,
}

impl CurrentPlanView {
    pub fn new(p: &pb::CurrentPlan, times: Times) -> Self {
        Self {
            summary: p.summary.as_ref().map(|s| PlanSummaryView::new(s, times)),
            assignments: p
                .assignments
                .iter()
                .map(|a| AssignmentView {
                    order: a.order_id.clone(),
                    vehicle: a.vehicle_id.clone(),
                    plate: a.plate.clone(),
                    model: model(a.model),
                    upgrade: a.upgrade,
                })
                .collect(),
            at_risk: p.at_risk.iter().map(|a| AtRiskView::new(a, times)).collect(),
            tasks: p
                .tasks
                .iter()
                .map(|t| TaskView {
                    order: t.order_id.clone(),
                    kind: match pb::TaskKind::try_from(t.kind) {
                        Ok(pb::TaskKind::Collection) => "collection",
                        Ok(pb::TaskKind::Relocation) => "relocation",
                        _ => "delivery",
                    }
                    .to_owned(),
                    driver: t.driver_id.clone(),
                    from: times.opt(t.from.as_ref()),
                    station: t.station.clone(),
                    address: t.address.clone(),
                    flagged: t.flagged,
                    reason: t.reason.clone(),
                    to_station: t.to_station.clone(),
                    vehicle: t.vehicle_id.clone(),
                })
                .collect(),
        }
    }
}

impl View for CurrentPlanView {
    fn table(&self) -> String {
        let Some(summary) = &self.summary else {
            return "no plan for this city yet\n".to_owned();
        };
        let mut out = plan_table(std::slice::from_ref(summary));
        out += &format!("\nassignments: {}\n", self.assignments.len());
        if !self.assignments.is_empty() {
            let rows = self
                .assignments
                .iter()
                .map(|a| {
                    vec![
                        a.order.clone(),
                        cell(Some(&a.vehicle)),
                        cell(Some(&a.plate)),
                        cell(a.model.as_deref()),
                        if a.upgrade { "upgrade" } else { "-" }.to_owned(),
                    ]
                })
                .collect();
            out += &grid(Some(&["ORDER", "VEHICLE", "PLATE", "MODEL", "UPGRADE"]), rows);
        }
        out += &format!("\nat risk: {}\n", self.at_risk.len());
        if !self.at_risk.is_empty() {
            out += &at_risk_table(&self.at_risk);
        }
        if !self.tasks.is_empty() {
            out += &format!("\ndriver tasks: {}\n", self.tasks.len());
            let rows = self
                .tasks
                .iter()
                .map(|t| {
                    vec![
                        t.order.clone(),
                        t.kind.clone(),
                        cell(Some(&t.driver)),
                        cell(t.from.as_deref()),
                        if !t.to_station.is_empty() {
                            format!("{} {} → {}", t.vehicle, t.station, t.to_station)
                        } else {
                            cell(Some(if t.address.is_empty() { &t.station } else { &t.address }))
                        },
                        if t.flagged {
                            format!("FLAGGED: {}", cell(Some(&t.reason)))
                        } else {
                            "-".to_owned()
                        },
                    ]
                })
                .collect();
            out += &grid(Some(&["ORDER", "KIND", "DRIVER", "FROM", "WHERE", "FLAG"]), rows);
        }
        out
    }
}

/// `rentops fleet at-risk`.
#[derive(Debug, Serialize)]
pub struct AtRiskListView {
    pub at_risk: Vec<AtRiskView>,
}

impl View for AtRiskListView {
    fn table(&self) -> String {
        if self.at_risk.is_empty() {
            return "no orders at risk\n".to_owned();
        }
        at_risk_table(&self.at_risk)
    }
}

#[derive(Debug, Serialize)]
pub struct VehicleView {
    pub vehicle: String,
    pub plate: String,
    pub model: Option<String>,
    pub state: String,
    pub station: String,
    pub charge_percent: u32,
    pub odometer_km: i64,
    pub on_hire_order: String,
}

/// `rentops fleet vehicles`.
#[derive(Debug, Serialize)]
pub struct VehiclesView {
    pub vehicles: Vec<VehicleView>,
    pub next_page_token: String,
}

impl VehiclesView {
    pub fn new(r: &pb::ListVehiclesResponse) -> Self {
        let state = |s: i32| {
            pb::VehicleState::try_from(s)
                .map(|s| s.as_str_name().trim_start_matches("VEHICLE_STATE_").to_owned())
                .unwrap_or_else(|_| format!("UNKNOWN({s})"))
        };
        Self {
            vehicles: r
                .vehicles
                .iter()
                .map(|v| VehicleView {
                    vehicle: v.vehicle_id.clone(),
                    plate: v.plate.clone(),
                    model: model(v.model),
                    state: state(v.state),
                    station: v.station.clone(),
                    charge_percent: v.charge_percent,
                    odometer_km: v.odometer_km,
                    on_hire_order: v.on_hire_order_id.clone(),
                })
                .collect(),
            next_page_token: r.page.as_ref().map(|p| p.next_page_token.clone()).unwrap_or_default(),
        }
    }
}

impl View for VehiclesView {
    fn table(&self) -> String {
        if self.vehicles.is_empty() {
            return "no vehicles\n".to_owned();
        }
        let rows = self
            .vehicles
            .iter()
            .map(|v| {
                vec![
                    v.vehicle.clone(),
                    cell(Some(&v.plate)),
                    cell(v.model.as_deref()),
                    v.state.clone(),
                    cell(Some(&v.station)),
                    format!("{}%", v.charge_percent),
                    format!("{} km", v.odometer_km),
                    cell(Some(&v.on_hire_order)),
                ]
            })
            .collect();
        let header = [
            "VEHICLE", "PLATE", "MODEL", "STATE", "STATION", "CHARGE", "ODOMETER", "ON HIRE",
        ];
        grid(Some(&header), rows) + &next_page_hint(&self.next_page_token)
    }
}

/// One vehicle's time with a plate.
#[derive(Debug, Serialize)]
pub struct PlateCarrierView {
    pub vehicle: String,
    pub from: Option<String>,
    /// `null`: it carries the plate now.
    pub to: Option<String>,
}

/// `rentops fleet plate-history`.
#[derive(Debug, Serialize)]
pub struct PlateHistoryView {
    pub plate: String,
    pub carriers: Vec<PlateCarrierView>,
}

impl PlateHistoryView {
    pub fn new(r: &pb::GetPlateHistoryResponse, times: Times) -> Self {
        Self {
            plate: r.plate.clone(),
            carriers: r
                .carriers
                .iter()
                .map(|c| PlateCarrierView {
                    vehicle: c.vehicle_id.clone(),
                    from: times.opt(c.from.as_ref()),
                    to: times.opt(c.to.as_ref()),
                })
                .collect(),
        }
    }
}

impl View for PlateHistoryView {
    fn table(&self) -> String {
        if self.carriers.is_empty() {
            return format!("no vehicle carried {}\n", self.plate);
        }
        let rows = self
            .carriers
            .iter()
            .map(|c| {
                vec![
                    self.plate.clone(),
                    c.vehicle.clone(),
                    cell(c.from.as_deref()),
                    c.to.clone().unwrap_or_else(|| "(now)".to_owned()),
                ]
            })
            .collect();
        grid(Some(&["PLATE", "VEHICLE", "FROM", "TO"]), rows)
    }
}

/// One KPI row: a day, or a day and model. Rates are `null` when the service left them unset.
#[derive(Debug, Serialize)]
pub struct KpiRowView {
    pub day: String,
    /// `null` on a row over every model.
    pub model: Option<String>,
    pub due: u32,
    pub fulfilled: u32,
    pub pending: u32,
    pub fulfilment_rate: Option<f64>,
    pub on_rent_hours: f64,
    pub available_hours: f64,
    pub idle_rate: Option<f64>,
    pub planned_orders: u32,
    pub planned_fulfilled: u32,
    pub planned_fulfilment_rate: Option<f64>,
    pub planned_on_rent_hours: f64,
    pub planned_idle_rate: Option<f64>,
}

/// `rentops fleet kpis`: a row per day, or per day and model with `--by-model`.
#[derive(Debug, Serialize)]
pub struct KpisView {
    pub city: String,
    pub rows: Vec<KpiRowView>,
}

impl KpisView {
    pub fn new(r: &pb::GetKpisResponse) -> Self {
        Self {
            city: r.city.clone(),
            rows: r
                .rows
                .iter()
                .map(|k| KpiRowView {
                    day: k.day.clone(),
                    model: model(k.model),
                    due: k.due_orders,
                    fulfilled: k.fulfilled_orders,
                    pending: k.pending_orders,
                    fulfilment_rate: k.fulfilment_rate,
                    on_rent_hours: k.on_rent_hours,
                    available_hours: k.available_hours,
                    idle_rate: k.idle_rate,
                    planned_orders: k.planned_orders,
                    planned_fulfilled: k.planned_fulfilled,
                    planned_fulfilment_rate: k.planned_fulfilment_rate,
                    planned_on_rent_hours: k.planned_on_rent_hours,
                    planned_idle_rate: k.planned_idle_rate,
                })
                .collect(),
        }
    }
}

impl View for KpisView {
    fn table(&self) -> String {
        if self.rows.is_empty() {
            return "no KPIs: the city has no cars or orders of that model\n".to_owned();
        }
        // The model column only when some row is of one model.
        let by_model = self.rows.iter().any(|r| r.model.is_some());
        let rows = self
            .rows
            .iter()
            .map(|k| {
                let mut row = vec![k.day.clone()];
                if by_model {
                    row.push(cell(k.model.as_deref()));
                }
                row.extend([
                    k.due.to_string(),
                    k.fulfilled.to_string(),
                    k.pending.to_string(),
                    rate(k.fulfilment_rate),
                    rate(k.planned_fulfilment_rate),
                    hours(k.available_hours),
                    hours(k.on_rent_hours),
                    rate(k.idle_rate),
                    rate(k.planned_idle_rate),
                ]);
                row
            })
            .collect();
        let mut header = vec!["DAY"];
        if by_model {
            header.push("MODEL");
        }
        header.extend([
            "DUE",
            "FULFILLED",
            "PENDING",
            "FULFILMENT",
            "PLANNED",
            "AVAILABLE H",
            "ON RENT H",
            "IDLE",
            "PLANNED IDLE",
        ]);
        grid(Some(&header), rows)
    }
}

/// `rentops fleet plan`'s report on stderr: the plan's KPIs, then why each unserved order is.
#[derive(Debug, Serialize)]
pub struct PlanReportView {
    pub orders: u32,
    pub fulfilled: u32,
    pub fulfilment_rate: Option<f64>,
    pub idle_rate: f64,
    pub upgrades: u32,
    pub relocation_minutes: i64,
    pub proven_optimal: bool,
    pub upper_bound_fulfilled: u32,
    /// (order, why).
    pub unassigned: Vec<(String, String)>,
}

impl View for PlanReportView {
    fn table(&self) -> String {
        let mut out = pairs(vec![
            ("orders", self.orders.to_string()),
            ("fulfilled", self.fulfilled.to_string()),
            ("fulfilment", rate(self.fulfilment_rate)),
            ("idle", rate(Some(self.idle_rate))),
            ("upgrades", self.upgrades.to_string()),
            ("relocation", format!("{} min", self.relocation_minutes)),
            (
                "bound",
                if self.proven_optimal {
                    "optimal".to_owned()
                } else {
                    format!("at most {} fulfilled", self.upper_bound_fulfilled)
                },
            ),
        ]);
        if !self.unassigned.is_empty() {
            let rows = self
                .unassigned
                .iter()
                .map(|(o, why)| vec![o.clone(), why.clone()])
                .collect();
            out += &format!("\nunassigned: {}\n", self.unassigned.len());
            out += &grid(Some(&["ORDER", "WHY"]), rows);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Zone;

    const CHINA: Times = Times {
        zone: Zone::China,
        whole_seconds: true,
    };

    fn words(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    fn kpi(day: &str, model: i32) -> pb::KpiRow {
        pb::KpiRow {
            day: day.into(),
            model,
            ..Default::default()
        }
    }

    #[test]
    fn kpis_print_a_row_per_day_and_a_dash_for_a_rate_with_nothing_to_divide_by() {
        let r = pb::GetKpisResponse {
            city: "SHA".into(),
            rows: vec![
                kpi("2026-12-01", 0),
                pb::KpiRow {
                    due_orders: 4,
                    fulfilled_orders: 3,
                    fulfilment_rate: Some(0.75),
                    available_hours: 14.0,
                    idle_rate: Some(1.0),
                    planned_orders: 4,
                    planned_fulfilled: 4,
                    planned_fulfilment_rate: Some(1.0),
                    planned_idle_rate: Some(0.5),
                    ..kpi("2026-12-02", 0)
                },
            ],
        };
        let v = KpisView::new(&r);
        let text = v.table();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "a header and a row per day:\n{text}");
        assert_eq!(
            words(lines[0]),
            [
                "DAY",
                "DUE",
                "FULFILLED",
                "PENDING",
                "FULFILMENT",
                "PLANNED",
                "AVAILABLE",
                "H",
                "ON",
                "RENT",
                "H",
                "IDLE",
                "PLANNED",
                "IDLE"
            ],
            "no MODEL column on rows over every model:\n{text}"
        );
        assert_eq!(
            words(lines[1]),
            ["2026-12-01", "0", "0", "0", "—", "—", "0.0", "0.0", "—", "—"],
            "{text}"
        );
        assert_eq!(
            words(lines[2]),
            [
                "2026-12-02",
                "4",
                "3",
                "0",
                "75.0%",
                "100.0%",
                "14.0",
                "0.0",
                "100.0%",
                "50.0%"
            ],
            "{text}"
        );
        // JSON: an unset rate is null, not a number.
        let json = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(json["rows"][0]["fulfilment_rate"], serde_json::Value::Null);
        assert_eq!(json["rows"][0]["idle_rate"], serde_json::Value::Null);
        assert_eq!(json["rows"][1]["fulfilment_rate"], 0.75);
        assert_eq!(json["rows"][0]["model"], serde_json::Value::Null);
    }

    #[test]
    fn a_plates_history_lists_each_carrier_and_who_carries_it_now() {
        let t = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
        let r = pb::GetPlateHistoryResponse {
            plate: "沪A·D00001".into(),
            carriers: vec![
                pb::PlateCarrier {
                    vehicle_id: "V1".into(),
                    from: t(1_764_547_200),
                    to: t(1_764_550_800),
                },
                pb::PlateCarrier {
                    vehicle_id: "V2".into(),
                    from: t(1_764_554_400),
                    to: None,
                },
            ],
        };
        let times = Times::new(format::Zone::Utc, true);
        let text = PlateHistoryView::new(&r, times).table();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(words(lines[0]), ["PLATE", "VEHICLE", "FROM", "TO"], "{text}");
        assert_eq!(words(lines[1])[..2], ["沪A·D00001", "V1"], "{text}");
        assert_eq!(words(lines[2]).last(), Some(&"(now)"), "{text}");
        let none = pb::GetPlateHistoryResponse {
            plate: "沪A·D00009".into(),
            carriers: vec![],
        };
        assert_eq!(
            PlateHistoryView::new(&none, times).table(),
            "no vehicle carried 沪A·D00009\n"
        );
    }

    #[test]
    fn kpis_by_model_have_a_model_column() {
        use rentops_proto::common::VehicleModel;
        let r = pb::GetKpisResponse {
            city: "SHA".into(),
            rows: vec![
                kpi("2026-12-01", VehicleModel::Es6 as i32),
                kpi("2026-12-01", VehicleModel::Es8 as i32),
            ],
        };
        let text = KpisView::new(&r).table();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(words(lines[0])[..2], ["DAY", "MODEL"], "{text}");
        assert_eq!(words(lines[1])[..3], ["2026-12-01", "ES6", "0"], "{text}");
        assert_eq!(words(lines[2])[..3], ["2026-12-01", "ES8", "0"], "{text}");
        assert!(
            KpisView::new(&pb::GetKpisResponse::default())
                .table()
                .starts_with("no KPIs")
        );
    }

    fn summary() -> pb::PlanSummary {
        pb::PlanSummary {
            city: "SHA".into(),
            plan_id: "p-1".into(),
            planned_at: Some(prost_types::Timestamp {
                seconds: 1_796_090_400,
                nanos: 0,
            }),
            orders: 4,
            fulfilled: 3,
            upgrades: 1,
            relocation_minutes: 50,
            moved_from_previous: 0,
            fulfilment_rate: 0.75,
            idle_rate: 0.8125,
            proven_optimal: false,
            upper_bound_fulfilled: 3,
            trigger: "VehicleRegistered".into(),
            at_risk: 1,
            driver_minutes: 0,
        }
    }

    #[test]
    fn the_plan_prints_as_columns_and_sections_not_json() {
        let p = pb::CurrentPlan {
            summary: Some(summary()),
            assignments: vec![pb::PlannedAssignment {
                order_id: "o-1".into(),
                vehicle_id: "V0001".into(),
                plate: "沪AD00001".into(),
                model: rentops_proto::common::VehicleModel::Es8 as i32,
                upgrade: true,
                ..Default::default()
            }],
            at_risk: vec![pb::AtRiskOrder {
                order_id: "o-2".into(),
                reason: "NO_COMPATIBLE_MODEL".into(),
                explanation: "no ES6 in the city".into(),
                ..Default::default()
            }],
            tasks: vec![],
        };
        let text = CurrentPlanView::new(&p, CHINA).table();
        assert!(!text.contains('{'), "no JSON in the text:\n{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("PLAN") && lines[0].contains("FULFILMENT"),
            "{text}"
        );
        assert_eq!(
            words(lines[1]),
            [
                "p-1",
                "2026-12-01T10:00:00+08:00",
                "VehicleRegistered",
                "4",
                "3",
                "75.0%",
                "81.2%",
                "1",
                "50",
                "min",
                "0",
                "1",
                "≤",
                "3"
            ],
            "{text}"
        );
        assert!(text.contains("assignments: 1\nORDER"), "{text}");
        assert!(
            text.lines()
                .any(|l| words(l) == ["o-1", "V0001", "沪AD00001", "ES8", "upgrade"]),
            "{text}"
        );
        assert!(text.contains("at risk: 1\nORDER"), "{text}");
        assert!(
            text.contains("NO_COMPATIBLE_MODEL") && text.contains("no ES6 in the city"),
            "{text}"
        );
        assert_eq!(
            CurrentPlanView::new(&pb::CurrentPlan::default(), CHINA).table(),
            "no plan for this city yet\n"
        );
    }

    #[test]
    fn a_plan_without_orders_has_no_fulfilment_rate() {
        let empty = pb::PlanSummary {
            orders: 0,
            fulfilled: 0,
            fulfilment_rate: 1.0,
            ..summary()
        };
        let v = PlanSummaryView::new(&empty, CHINA);
        assert_eq!(v.fulfilment_rate, None);
        let text = plan_table(&[v]);
        assert_eq!(words(text.lines().nth(1).unwrap_or_default())[5], "—", "{text}");
    }

    #[test]
    fn at_risk_vehicles_and_commands_are_tables_too() {
        let r = pb::ListAtRiskOrdersResponse {
            orders: vec![pb::AtRiskOrder {
                order_id: "o-2".into(),
                reason: "TOO_FAR".into(),
                explanation: "no car near enough".into(),
                flagged_at: Some(prost_types::Timestamp {
                    seconds: 1_796_090_400,
                    nanos: 0,
                }),
                ..Default::default()
            }],
        };
        let v = AtRiskListView {
            at_risk: r.orders.iter().map(|a| AtRiskView::new(a, CHINA)).collect(),
        };
        let text = v.table();
        assert_eq!(
            words(text.lines().next().unwrap_or_default()),
            ["ORDER", "REASON", "FLAGGED", "AT", "EXPLANATION"]
        );
        assert_eq!(
            words(text.lines().nth(1).unwrap_or_default()),
            [
                "o-2",
                "TOO_FAR",
                "2026-12-01T10:00:00+08:00",
                "no",
                "car",
                "near",
                "enough"
            ],
            "{text}"
        );
        assert_eq!(AtRiskListView { at_risk: vec![] }.table(), "no orders at risk\n");

        let vehicles = VehiclesView::new(&pb::ListVehiclesResponse {
            vehicles: vec![pb::Vehicle {
                vehicle_id: "V0001".into(),
                plate: "沪AD00001".into(),
                model: rentops_proto::common::VehicleModel::Es6 as i32,
                state: pb::VehicleState::Breakdown as i32,
                station: "PVG".into(),
                charge_percent: 80,
                odometer_km: 1200,
                ..Default::default()
            }],
            page: None,
        });
        let text = vehicles.table();
        assert_eq!(
            words(text.lines().nth(1).unwrap_or_default()),
            [
                "V0001",
                "沪AD00001",
                "ES6",
                "BREAKDOWN",
                "PVG",
                "80%",
                "1200",
                "km",
                "-"
            ],
            "{text}"
        );

        let ctx = Context {
            request_id: "req-1".into(),
            actor: "li".into(),
        };
        let done = FleetCommandView::new(
            &CommandResult {
                aggregate_id: "V0001".into(),
                sequence: 9,
                events_appended: 1,
            },
            &ctx,
        );
        let text = done.table();
        assert!(text.lines().any(|l| words(l) == ["sequence", "9"]), "{text}");
        assert!(text.lines().any(|l| words(l) == ["request_id", "req-1"]), "{text}");
        let json = serde_json::to_value(&done).unwrap_or_default();
        assert_eq!(json["sequence"], 9);
    }
}
