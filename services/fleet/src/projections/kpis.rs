//! KPIs per city, model and day (docs/domain.md), actual and planned, computed from the read models.
//!
//! - **Fulfilment rate** = fulfilled ÷ (confirmed orders due that day less those the customer
//!   cancelled, through the customer or their channel). Fulfilled = handed over no later than
//!   pickup + 30 min with the requested model or an allowed upgrade (the city's ladder). Shortage
//!   and desk cancellations, late handovers and downgrades are failures. An order whose deadline
//!   has not passed and which is not handed over yet is *pending*: counted neither way. Rows are
//!   per requested model.
//! - **Idle rate** = 1 − on-rent vehicle-hours ÷ available vehicle-hours, where available
//!   excludes maintenance, breakdown and retirement (and time before registration). Rows are per
//!   car model. Actual figures count time up to now; planned figures cover the whole day, with
//!   the plan's assignments as rentals besides the hires under way.
//!
//! A rate with nothing to divide by (no order due, no vehicle-hour available, nothing planned)
//! is `None`: no figure, rather than a 0 or a 1 that reads as a result. Rows are kept only for
//! the models the city has cars or, in the period, orders for; [`per_day`] sums them into one
//! row per day, whose rates are those of the sums.
//!
//! Days are China time (+08:00), the business's calendar.

use std::collections::BTreeMap;

use rentops_projection::Db;
use time::{Date, OffsetDateTime, UtcOffset};

use super::queries::{self, QueryError};
use crate::domain::VehicleModel;
use crate::domain::city::City;

pub const CHINA: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kpi {
    pub due: u32,
    pub fulfilled: u32,
    pub pending: u32,
    pub on_rent_hours: f64,
    pub available_hours: f64,
    pub planned_orders: u32,
    pub planned_fulfilled: u32,
    pub planned_on_rent_hours: f64,
    pub planned_available_hours: f64,
}

impl Kpi {
    /// `None` when no order was due.
    pub fn fulfilment_rate(&self) -> Option<f64> {
        ratio(self.fulfilled, self.due)
    }

    /// `None` when no vehicle-hour was available.
    pub fn idle_rate(&self) -> Option<f64> {
        idle(self.on_rent_hours, self.available_hours)
    }

    /// `None` when the plan served no order of the day (no plan covered it).
    pub fn planned_fulfilment_rate(&self) -> Option<f64> {
        ratio(self.planned_fulfilled, self.planned_orders)
    }

    pub fn planned_idle_rate(&self) -> Option<f64> {
        idle(self.planned_on_rent_hours, self.planned_available_hours)
    }

    /// Adds `other`'s counts and hours: the KPI of both together.
    fn add(&mut self, other: &Kpi) {
        self.due += other.due;
        self.fulfilled += other.fulfilled;
        self.pending += other.pending;
        self.on_rent_hours += other.on_rent_hours;
        self.available_hours += other.available_hours;
        self.planned_orders += other.planned_orders;
        self.planned_fulfilled += other.planned_fulfilled;
        self.planned_on_rent_hours += other.planned_on_rent_hours;
        self.planned_available_hours += other.planned_available_hours;
    }
}

fn ratio(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

fn idle(on_rent: f64, available: f64) -> Option<f64> {
    (available > 0.0).then(|| (1.0 - on_rent / available).clamp(0.0, 1.0))
}

/// The rows of [`compute`] summed over their models: one per day.
pub fn per_day(rows: &BTreeMap<(Date, VehicleModel), Kpi>, from: Date, to: Date) -> BTreeMap<Date, Kpi> {
    let mut out = BTreeMap::new();
    let mut day = from;
    while day <= to {
        out.insert(day, Kpi::default());
        let Some(next) = day.next_day() else { break };
        day = next;
    }
    for ((day, _), k) in rows {
        out.entry(*day).or_default().add(k);
    }
    out
}

type Span = (OffsetDateTime, OffsetDateTime);

fn hours(d: time::Duration) -> f64 {
    d.as_seconds_f64() / 3600.0
}

/// Length of the overlap of `a` with the union of `spans`, within `a`.
fn covered(a: Span, spans: &[Span]) -> time::Duration {
    let mut clipped: Vec<Span> = spans
        .iter()
        .map(|&(f, t)| (f.max(a.0), t.min(a.1)))
        .filter(|(f, t)| f < t)
        .collect();
    clipped.sort();
    let mut total = time::Duration::ZERO;
    let mut cur: Option<Span> = None;
    for s in clipped {
        cur = match cur {
            Some(c) if s.0 <= c.1 => Some((c.0, c.1.max(s.1))),
            Some(c) => {
                total += c.1 - c.0;
                Some(s)
            }
            None => Some(s),
        };
    }
    if let Some(c) = cur {
        total += c.1 - c.0;
    }
    total
}

pub fn day_span(day: Date) -> Span {
    let start = day.midnight().assume_offset(CHINA);
    (start, start + time::Duration::days(1))
}

/// KPI rows keyed by (day, model) for `days` of `city`, optionally one model only.
pub async fn compute(
    db: &Db,
    city: &City,
    model: Option<VehicleModel>,
    from: Date,
    to: Date,
    now: OffsetDateTime,
    // An order is fulfilled when handed over no later than pickup + this (configuration).
    handover_grace: time::Duration,
) -> Result<BTreeMap<(Date, VehicleModel), Kpi>, QueryError> {
    let (start, _) = day_span(from);
    let (_, end) = day_span(to);
    let mut out: BTreeMap<(Date, VehicleModel), Kpi> = BTreeMap::new();
    let mut day = from;
    while day <= to {
        for m in VehicleModel::ALL.into_iter().filter(|m| model.is_none_or(|x| x == *m)) {
            out.insert((day, m), Kpi::default());
        }
        let Some(next) = day.next_day() else { break };
        day = next;
    }
    let vehicles = queries::all_vehicles(db, &city.city).await?;
    let model_of: BTreeMap<&str, VehicleModel> = vehicles.iter().map(|v| (v.vehicle_id.as_str(), v.model)).collect();
    // The models the city has cars or (below) orders for: the only rows worth a line.
    let mut models: std::collections::BTreeSet<VehicleModel> = vehicles.iter().map(|v| v.model).collect();
    let plan: BTreeMap<String, queries::AssignmentRow> = queries::assignments(db, &city.city)
        .await?
        .into_iter()
        .map(|a| (a.order_id.clone(), a))
        .collect();
    let at_risk: std::collections::BTreeSet<String> = queries::at_risk(db, &city.city)
        .await?
        .into_iter()
        .map(|r| r.order_id)
        .collect();

    // Fulfilment, per requested model.
    for o in queries::demand(db, &city.city, start, end).await? {
        let Some(requested) = VehicleModel::parse(&o.model).ok() else {
            continue;
        };
        models.insert(requested);
        let d = o.pickup_at.to_offset(CHINA).date();
        let Some(k) = out.get_mut(&(d, requested)) else {
            continue;
        };
        if plan.contains_key(&o.order_id) {
            k.planned_orders += 1;
            k.planned_fulfilled += 1;
        } else if at_risk.contains(&o.order_id) {
            k.planned_orders += 1;
        }
        if !o.confirmed || matches!(o.cancelled_by.as_str(), "CUSTOMER" | "CHANNEL") {
            continue;
        }
        let deadline = o.pickup_at + handover_grace;
        match o.picked_up_at {
            None if now < deadline && o.status == "CONFIRMED" => k.pending += 1,
            None => k.due += 1,
            Some(at) => {
                k.due += 1;
                let car_serves = model_of
                    .get(o.vehicle_id.as_str())
                    .is_some_and(|car| city.serves(*car, requested));
                if at <= deadline && car_serves {
                    k.fulfilled += 1;
                }
            }
        }
    }

    // Idle, per car model.
    let windows = queries::unavailable(db, &city.city).await?;
    let hires = queries::hire_spans(db, &city.city, start, end).await?;
    let plan_rentals = queries::demand(db, &city.city, start - time::Duration::days(31), end).await?;
    let booked: BTreeMap<&str, Span> = plan_rentals
        .iter()
        .map(|o| (o.order_id.as_str(), (o.pickup_at, o.return_at)))
        .collect();
    for v in &vehicles {
        let blocked: Vec<Span> = windows
            .get(&v.vehicle_id)
            .map(|ws| {
                ws.iter()
                    .map(|(f, t)| {
                        (
                            super::from_micros(*f),
                            t.map(super::from_micros).unwrap_or(end.max(now)),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Each car's own part of each hire: after a swap, the car out until the swap and the
        // replacement from then.
        let actual_rent: Vec<Span> = hires
            .iter()
            .filter(|h| h.vehicle_id == v.vehicle_id)
            .map(|h| (h.from, h.to.unwrap_or(now)))
            .collect();
        let mut planned_rent: Vec<Span> = hires
            .iter()
            .filter(|h| h.vehicle_id == v.vehicle_id)
            .map(|h| (h.from, h.to.unwrap_or(h.booked_return_at.max(now))))
            .collect();
        planned_rent.extend(
            plan.values()
                .filter(|a| a.vehicle_id == v.vehicle_id)
                .filter_map(|a| booked.get(a.order_id.as_str()).copied()),
        );
        for ((day, m), k) in out.iter_mut() {
            if *m != v.model {
                continue;
            }
            let (ds, de) = day_span(*day);
            let life = (ds.max(v.registered_at), de);
            if life.0 >= life.1 {
                continue;
            }
            // Planned: the whole day; actual: up to now.
            for (span, actual) in [(life, false), ((life.0, life.1.min(now)), true)] {
                if span.0 >= span.1 {
                    continue;
                }
                let available = (span.1 - span.0) - covered(span, &blocked);
                let rent = if actual {
                    covered(span, &actual_rent)
                } else {
                    covered(span, &planned_rent)
                };
                let rent = rent.min(available);
                if actual {
                    k.available_hours += hours(available);
                    k.on_rent_hours += hours(rent);
                } else {
                    k.planned_available_hours += hours(available);
                    k.planned_on_rent_hours += hours(rent);
                }
            }
        }
    }
    out.retain(|(_, m), _| models.contains(m));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn overlapping_spans_count_once() {
        let a = (datetime!(2026-12-01 00:00 UTC), datetime!(2026-12-01 10:00 UTC));
        let spans = [
            (datetime!(2026-11-30 22:00 UTC), datetime!(2026-12-01 02:00 UTC)),
            (datetime!(2026-12-01 01:00 UTC), datetime!(2026-12-01 03:00 UTC)),
            (datetime!(2026-12-01 09:00 UTC), datetime!(2026-12-01 12:00 UTC)),
        ];
        assert_eq!(covered(a, &spans), time::Duration::hours(4));
        assert_eq!(idle(6.0, 24.0), Some(0.75));
    }

    #[test]
    fn a_rate_with_nothing_to_divide_by_is_no_figure() {
        let none = Kpi::default();
        assert_eq!(
            (none.fulfilment_rate(), none.idle_rate()),
            (None, None),
            "no order due, no vehicle-hour available"
        );
        assert_eq!((none.planned_fulfilment_rate(), none.planned_idle_rate()), (None, None));
        let k = Kpi {
            due: 4,
            fulfilled: 0,
            available_hours: 10.0,
            on_rent_hours: 10.0,
            ..Kpi::default()
        };
        // Zero is a figure when there was something to divide by.
        assert_eq!((k.fulfilment_rate(), k.idle_rate()), (Some(0.0), Some(0.0)));
    }

    #[test]
    fn per_day_sums_the_models_and_keeps_every_day() {
        use time::macros::date;
        let (d1, d2) = (date!(2026 - 12 - 01), date!(2026 - 12 - 02));
        let mut rows = BTreeMap::new();
        rows.insert(
            (d1, VehicleModel::Es6),
            Kpi {
                due: 2,
                fulfilled: 1,
                available_hours: 24.0,
                on_rent_hours: 6.0,
                ..Kpi::default()
            },
        );
        rows.insert(
            (d1, VehicleModel::Es8),
            Kpi {
                due: 2,
                fulfilled: 2,
                available_hours: 24.0,
                on_rent_hours: 18.0,
                ..Kpi::default()
            },
        );
        let days = per_day(&rows, d1, d2);
        assert_eq!(days.len(), 2);
        assert_eq!(days[&d1].fulfilment_rate(), Some(0.75));
        assert_eq!(days[&d1].idle_rate(), Some(0.5));
        assert_eq!((days[&d2].fulfilment_rate(), days[&d2].idle_rate()), (None, None));
    }
}
