//! The week as plain data: what the gathering got from the four services, in the shape the
//! renderer draws it. No wire types and no I/O here, so the renderer's tests build a `Week` by
//! hand. A rate that had nothing to divide by is `None`, never 0 or 1.

use rentops_kernel::Fen;
use time::{Date, OffsetDateTime};

/// One city's week, Monday 00:00 to the next Monday 00:00, China time.
#[derive(Debug, Clone, PartialEq)]
pub struct Week {
    pub city: String,
    /// The city's name as fleet knows it ('' when fleet has no such city).
    pub city_name: String,
    pub monday: Date,
    /// When the figures were read (the services' views as they stood then).
    pub generated_at: OffsetDateTime,
    pub fleet: FleetWeek,
    pub orders: OrderWeek,
    pub violations: ViolationWeek,
    pub collection: CollectionWeek,
    pub complaints: ComplaintWeek,
}

/// Fleet's KPIs, actual against planned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetWeek {
    /// The seven days, over every model.
    pub days: Vec<Kpi>,
    /// The week per model (summed over the days, then divided).
    pub models: Vec<Kpi>,
    /// Each day and model.
    pub day_models: Vec<Kpi>,
    /// The whole week over every model.
    pub total: Kpi,
}

/// Fulfilment and idle figures of a day, a model, or both, actual and planned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kpi {
    /// `YYYY-MM-DD` for a day row, '' for a week row.
    pub day: String,
    /// The model's short name ("ES6"), '' for a row over every model.
    pub model: String,
    pub due: u32,
    pub fulfilled: u32,
    pub pending: u32,
    pub fulfilment: Option<f64>,
    pub planned_orders: u32,
    pub planned_fulfilled: u32,
    pub planned_fulfilment: Option<f64>,
    pub on_rent_hours: f64,
    pub available_hours: f64,
    pub idle: Option<f64>,
    pub planned_on_rent_hours: f64,
    pub planned_idle: Option<f64>,
}

impl Kpi {
    /// The sum of `rows` with its rates divided again, as fleet divides a day's: a rate of a
    /// sum, never a mean of rates.
    pub fn sum<'a>(day: &str, model: &str, rows: impl IntoIterator<Item = &'a Kpi>) -> Kpi {
        let mut k = Kpi {
            day: day.to_owned(),
            model: model.to_owned(),
            ..Kpi::default()
        };
        for r in rows {
            k.due = k.due.saturating_add(r.due);
            k.fulfilled = k.fulfilled.saturating_add(r.fulfilled);
            k.pending = k.pending.saturating_add(r.pending);
            k.planned_orders = k.planned_orders.saturating_add(r.planned_orders);
            k.planned_fulfilled = k.planned_fulfilled.saturating_add(r.planned_fulfilled);
            k.on_rent_hours += r.on_rent_hours;
            k.available_hours += r.available_hours;
            k.planned_on_rent_hours += r.planned_on_rent_hours;
        }
        k.fulfilment = ratio(f64::from(k.fulfilled), f64::from(k.due));
        k.planned_fulfilment = ratio(f64::from(k.planned_fulfilled), f64::from(k.planned_orders));
        k.idle = ratio(k.on_rent_hours, k.available_hours).map(|r| 1.0 - r);
        k.planned_idle = ratio(k.planned_on_rent_hours, k.available_hours).map(|r| 1.0 - r);
        k
    }
}

/// `part / whole`, or `None` when there is nothing to divide by.
pub fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0 && part.is_finite()).then(|| part / whole)
}

/// The orders whose pickup fell in the week, and the swaps recorded in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderWeek {
    pub orders: u32,
    /// (status, count), in the order the lifecycle runs.
    pub by_status: Vec<(String, u32)>,
    pub upgrades: u32,
    pub at_risk: Vec<AtRisk>,
    pub swaps: Vec<Swap>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AtRisk {
    pub order_id: String,
    pub pickup_at: Option<OffsetDateTime>,
    pub model: String,
    pub reason: String,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Swap {
    pub order_id: String,
    pub at: Option<OffsetDateTime>,
    pub from_vehicle: String,
    pub to_vehicle: String,
    pub reason: String,
}

/// The violations of the week (by offence) for the city, and how far each has got since.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViolationWeek {
    /// Offences in the week whose records have come in.
    pub received: u32,
    /// Matched to a renter's hire by the service itself.
    pub matched_to_renter: u32,
    /// The company's own: a driver's or staff member's move, or decided so.
    pub company: u32,
    /// Sent to the exceptions queue (whatever a person decided since).
    pub sent_to_exceptions: u32,
    /// Of those, still waiting for a person.
    pub still_in_exceptions: u32,
    pub handled: u32,
    pub fines: Fen,
    /// The dunning ladder of the renters' violations: (step, how many got at least that far).
    pub funnel: Vec<(String, u32)>,
    /// The week's records still in the exceptions queue.
    pub exceptions: Vec<ExceptionRow>,
    /// Records of the week the city could not be told for (unknown plate, no match): counted
    /// here, not in the city's figures.
    pub unattributed: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionRow {
    pub violation_id: String,
    pub plate: String,
    pub offence_at: Option<OffsetDateTime>,
    pub place: String,
    pub reason: String,
    pub fine: Fen,
}

/// Recovery of the charges booked in the week's month(s), and what is open at the week's end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectionWeek {
    pub months: Vec<MonthRecovery>,
    /// The last day of the week (`YYYY-MM-DD`) the ageing is as of.
    pub aging_as_of: String,
    /// (bucket, open amount): current, 1–30, 31–60, 61–90, over 90 days.
    pub aging: Vec<(String, Fen)>,
    pub aging_total: Fen,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonthRecovery {
    /// `YYYY-MM`.
    pub month: String,
    pub charges: u32,
    pub billed: Fen,
    pub recovered: Fen,
    /// recovered / billed; `None` when nothing was billed.
    pub recovery_rate: Option<f64>,
    pub recovered_charges: u32,
    /// `None` when no charge was recovered in full.
    pub mean_days_to_recover: Option<f64>,
}

/// The complaint analysis of the week.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComplaintWeek {
    /// The city's cases and orders, and cases per 1,000 orders.
    pub city_rate: Rate,
    /// Every city's, for comparison.
    pub cities: Vec<Rate>,
    /// Per model and per sales channel (every city: the analysis is not split by city).
    pub models: Vec<Rate>,
    pub channels: Vec<Rate>,
    /// Categories with the change on the week before.
    pub categories: Vec<Trend>,
    pub root_causes: Vec<Trend>,
    pub keywords: Vec<(String, Vec<Keyword>)>,
    pub hot_spots: Vec<HotSpot>,
    /// The service standard over every city's cases (the analysis).
    pub sla: Sla,
    /// The same over the city's cases, counted here from each case's clocks.
    pub city_sla: Sla,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rate {
    pub value: String,
    pub cases: i64,
    pub orders: i64,
    pub per_thousand: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub value: String,
    pub current: i64,
    pub previous: i64,
    pub change_percent: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    pub term: String,
    pub cases: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HotSpot {
    pub category: String,
    pub current: i64,
    pub previous: i64,
    pub rise_percent: Option<i64>,
    /// The evidence brief, a line each (keywords, where the cases concentrate, examples).
    pub brief: Vec<String>,
    /// The brief's example cases with what the customer wrote.
    pub examples: Vec<Example>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub case_id: String,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sla {
    pub cases: i64,
    pub escalated: i64,
    pub escalation_rate: Option<f64>,
    pub first_response_stopped: i64,
    pub first_response_met: i64,
    pub first_response_compliance: Option<f64>,
    pub resolution_stopped: i64,
    pub resolution_met: i64,
    pub resolution_compliance: Option<f64>,
}
