//! The plan checker of FORMAT.md: whether a plan is feasible, and its KPIs. The planner's tests
//! hold it to a second implementation written independently in Python (`tests/check_plan.py`):
//! both must find the same plans feasible and give them the same figures.

use serde::{Deserialize, Serialize};

use crate::model::{Instance, Plan};
use crate::problem::{self, Problem, Serves};

/// The KPIs of a plan, as FORMAT.md defines them, plus what the planner proved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    /// Number of orders in the instance.
    pub orders: usize,
    /// Number of vehicles in the instance.
    pub vehicles: usize,
    /// Orders served.
    pub fulfilled: usize,
    /// `fulfilled / orders`, rounded to 6 places (1.0 without orders).
    pub fulfilment_rate: f64,
    /// Orders served by an upgrade rather than their own model.
    pub upgrades: usize,
    /// Minutes driven empty to pickups.
    pub relocation_minutes: i64,
    /// Orders of `previous_plan` whose car changed (or that lost their car).
    pub moved_from_previous: usize,
    /// `1 - on-rent hours / available hours` within the horizon, rounded to 6 places.
    pub idle_rate: f64,
    /// True when `fulfilled` equals `upper_bound_fulfilled`: no plan serves more orders.
    pub proven_optimal: bool,
    /// A proven upper bound on the orders any feasible plan can serve.
    pub upper_bound_fulfilled: usize,
}

/// Rounds like Python's `round(x, 6)` (correctly rounded decimal).
fn round6(x: f64) -> f64 {
    format!("{x:.6}").parse().unwrap_or(x)
}

/// The problems of a car's chain of orders, in the given order.
pub(crate) fn chain_problems(p: &Problem, car: usize, jobs: &[usize]) -> Vec<String> {
    let c = &p.cars[car];
    let mut out = Vec::new();
    let (mut at, mut free) = (c.station, c.available_from);
    for &j in jobs {
        let o = &p.jobs[j];
        if p.serves(c.model, o.model) == Serves::No {
            out.push(format!(
                "{} ({}) cannot serve {} ({})",
                c.id, p.models[c.model], o.id, p.models[o.model]
            ));
        }
        let leave = o.pickup_at - p.travel(at, o.pickup_station);
        if free > leave {
            out.push(format!(
                "{} is not at {} in time for {}",
                c.id, p.stations[o.pickup_station], o.id
            ));
        }
        let busy_end = o.return_at + p.turnaround;
        for &(b0, b1) in &c.blocked {
            if b0 < busy_end && leave < b1 {
                out.push(format!("{} is blocked during {}", c.id, o.id));
            }
        }
        at = o.return_station;
        free = o.return_at + p.turnaround;
    }
    out
}

/// Feasibility problems and KPIs of assignments given as `(order, car)` indices, in plan order.
/// `proven_optimal` and the bound are left trivial for the caller to fill.
pub(crate) fn kpis(p: &Problem, assignments: &[(usize, usize)]) -> (Vec<String>, PlanReport) {
    let mut problems = Vec::new();
    let mut seen = vec![false; p.jobs.len()];
    let mut fulfilled = 0usize;
    // Vehicles in order of first appearance, so problems are reported in the plan's order.
    let mut by_vehicle: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut slot: Vec<Option<usize>> = vec![None; p.cars.len()];
    for &(j, c) in assignments {
        if seen[j] {
            problems.push(format!("order {} assigned twice", p.jobs[j].id));
        } else {
            seen[j] = true;
            fulfilled += 1;
        }
        let s = match slot[c] {
            Some(s) => s,
            None => {
                by_vehicle.push((c, Vec::new()));
                slot[c] = Some(by_vehicle.len() - 1);
                by_vehicle.len() - 1
            }
        };
        by_vehicle[s].1.push(j);
    }
    let mut upgrades = 0usize;
    let mut relocation = 0i64;
    for (c, jobs) in &mut by_vehicle {
        // Stable: orders with equal pickups keep the plan's order (such a chain is infeasible
        // anyway, but its problems and relocation stay reproducible).
        jobs.sort_by_key(|&j| p.jobs[j].pickup_at);
        problems.extend(chain_problems(p, *c, jobs));
        let car = &p.cars[*c];
        let mut at = car.station;
        for &j in jobs.iter() {
            let o = &p.jobs[j];
            if p.serves(car.model, o.model) == Serves::Upgrade {
                upgrades += 1;
            }
            relocation += p.travel(at, o.pickup_station);
            at = o.return_station;
        }
    }
    let (h0, h1) = p.horizon;
    let mut on_rent = 0i64;
    for (j, _) in seen.iter().enumerate().filter(|(_, s)| **s) {
        let o = &p.jobs[j];
        let (s, e) = (o.pickup_at.max(h0), o.return_at.min(h1));
        if e > s {
            on_rent += e - s;
        }
    }
    let mut available = 0i64;
    for car in &p.cars {
        let mut span = h1 - h0.max(car.available_from);
        for &(b0, b1) in &car.blocked {
            let (s, e) = (b0.max(h0), b1.min(h1));
            if e > s {
                span -= e - s;
            }
        }
        available += span.max(0);
    }
    // The last assignment of an order wins (a plan serving an order twice is infeasible anyway).
    let mut now: Vec<Option<usize>> = vec![None; p.jobs.len()];
    for &(j, c) in assignments {
        now[j] = Some(c);
    }
    let moved = p
        .previous
        .iter()
        .zip(&now)
        .filter(|(prev, now)| prev.is_some() && prev != now)
        .count();
    let n = p.jobs.len();
    let report = PlanReport {
        orders: n,
        vehicles: p.cars.len(),
        fulfilled,
        fulfilment_rate: if n > 0 {
            round6(fulfilled as f64 / n as f64)
        } else {
            1.0
        },
        upgrades,
        relocation_minutes: relocation,
        moved_from_previous: moved,
        idle_rate: if available != 0 {
            round6(1.0 - on_rent as f64 / available as f64)
        } else {
            0.0
        },
        proven_optimal: fulfilled == n,
        upper_bound_fulfilled: n,
    };
    (problems, report)
}

/// Checks `plan` against `instance` by FORMAT.md's rules: `Ok` with the KPIs when
/// feasible, else every problem found (an invalid instance is one problem). The report's bound
/// is the trivial one (all orders); only [`crate::plan`] proves better.
pub fn check(instance: &Instance, plan: &Plan) -> Result<PlanReport, Vec<String>> {
    let p = problem::build(instance).map_err(|e| vec![format!("invalid instance: {e}")])?;
    let car_ix: std::collections::BTreeMap<&str, usize> =
        p.cars.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
    let job_ix: std::collections::BTreeMap<&str, usize> =
        p.jobs.iter().enumerate().map(|(i, j)| (j.id.as_str(), i)).collect();
    let mut problems = Vec::new();
    let mut pairs = Vec::with_capacity(plan.assignments.len());
    for a in &plan.assignments {
        match (job_ix.get(a.order.as_str()), car_ix.get(a.vehicle.as_str())) {
            (Some(&j), Some(&c)) => pairs.push((j, c)),
            _ => problems.push(format!(
                "unknown order or vehicle in {{'order': '{}', 'vehicle': '{}'}}",
                a.order, a.vehicle
            )),
        }
    }
    let (more, report) = kpis(&p, &pairs);
    problems.extend(more);
    if problems.is_empty() { Ok(report) } else { Err(problems) }
}
