//! The validated instance in planner terms: indices instead of ids, integer minutes since the
//! epoch instead of timestamps. Everything downstream trusts these invariants, which `build`
//! establishes once: stations, models, vehicles and orders are in range, every pair of stations
//! has a travel time in `0..=MAX_MINUTES`, every order returns after its pickup, ids are unique.

use std::collections::BTreeMap;

use chrono::DateTime;

use crate::PlanError;
use crate::model::Instance;

/// A bound on travel, turnaround and window lengths (a year); keeps all cost arithmetic far from
/// overflow.
pub const MAX_MINUTES: i64 = 525_600;

/// How a car's model relates to an order's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// The car cannot serve the order.
    No,
    /// Same model.
    Exact,
    /// An allowed free upgrade.
    Upgrade,
}

#[derive(Debug, Clone)]
pub struct Car {
    pub id: String,
    pub model: usize,
    pub station: usize,
    pub available_from: i64,
    /// `[from, to)` windows, in file order (the checker tests each).
    pub blocked: Vec<(i64, i64)>,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub model: usize,
    pub pickup_station: usize,
    pub pickup_at: i64,
    pub return_station: usize,
    pub return_at: i64,
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub stations: Vec<String>,
    /// `travel[a * stations + b]`.
    travel: Vec<i64>,
    pub turnaround: i64,
    pub horizon: (i64, i64),
    pub models: Vec<String>,
    /// `serves[car_model * models + order_model]`.
    serves: Vec<Serves>,
    pub cars: Vec<Car>,
    pub jobs: Vec<Job>,
    /// Per order, the car `previous_plan` gives it.
    pub previous: Vec<Option<usize>>,
    /// `(now, window)` in minutes, when a frozen window is set.
    pub frozen: Option<(i64, i64)>,
}

impl Problem {
    pub fn travel(&self, from: usize, to: usize) -> i64 {
        self.travel[from * self.stations.len() + to]
    }

    pub fn serves(&self, car_model: usize, order_model: usize) -> Serves {
        self.serves[car_model * self.models.len() + order_model]
    }

    /// When car `car`, ready at `ready` at station `at`, would leave for order `job`, or `None`
    /// when it cannot make the pickup or a blocked window overlaps the busy span (FORMAT.md,
    /// "When a plan is feasible"). Model compatibility is checked separately.
    pub fn leave_time(&self, car: usize, at: usize, ready: i64, job: usize) -> Option<i64> {
        let j = &self.jobs[job];
        let leave = j.pickup_at - self.travel(at, j.pickup_station);
        if ready > leave {
            return None;
        }
        let busy_end = j.return_at + self.turnaround;
        let clash = self.cars[car]
            .blocked
            .iter()
            .any(|&(b0, b1)| b0 < busy_end && leave < b1);
        if clash { None } else { Some(leave) }
    }

    /// When the car is free again after order `job`.
    pub fn ready_after(&self, job: usize) -> i64 {
        self.jobs[job].return_at + self.turnaround
    }
}

/// Minutes since the epoch of an RFC 3339 timestamp that falls on a whole minute.
pub fn minutes(field: &str, value: &str) -> Result<i64, PlanError> {
    let t = DateTime::parse_from_rfc3339(value).map_err(|_| PlanError::InvalidTime {
        field: field.to_string(),
        value: value.to_string(),
    })?;
    let secs = t.timestamp();
    if secs.rem_euclid(60) != 0 || t.timestamp_subsec_nanos() != 0 {
        return Err(PlanError::NotWholeMinute {
            field: field.to_string(),
            value: value.to_string(),
        });
    }
    Ok(secs.div_euclid(60))
}

fn minutes_in_range(value: i64) -> bool {
    (0..=MAX_MINUTES).contains(&value)
}

/// Validates the instance and converts it; the first problem found is returned.
pub fn build(inst: &Instance) -> Result<Problem, PlanError> {
    let h0 = minutes("horizon_start", &inst.horizon_start)?;
    let h1 = minutes("horizon_end", &inst.horizon_end)?;
    if h1 < h0 {
        return Err(PlanError::HorizonReversed);
    }
    if !minutes_in_range(inst.turnaround_minutes) {
        return Err(PlanError::TurnaroundOutOfRange(inst.turnaround_minutes));
    }

    let mut station_ix: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in inst.stations.iter().enumerate() {
        if station_ix.insert(s.as_str(), i).is_some() {
            return Err(PlanError::DuplicateStation(s.clone()));
        }
    }
    let station = |field: String, name: &str| -> Result<usize, PlanError> {
        station_ix.get(name).copied().ok_or_else(|| PlanError::UnknownStation {
            field,
            station: name.to_string(),
        })
    };
    let ns = inst.stations.len();
    let mut travel: Vec<Option<i64>> = vec![None; ns * ns];
    for (from, row) in &inst.travel_minutes {
        let a = station(format!("travel_minutes[{from}]"), from)?;
        for (to, &m) in row {
            let b = station(format!("travel_minutes[{from}][{to}]"), to)?;
            if !minutes_in_range(m) {
                return Err(PlanError::TravelOutOfRange {
                    from: from.clone(),
                    to: to.clone(),
                    minutes: m,
                });
            }
            travel[a * ns + b] = Some(m);
        }
    }
    let mut travel_full = Vec::with_capacity(ns * ns);
    for a in 0..ns {
        for b in 0..ns {
            match travel[a * ns + b] {
                Some(m) => travel_full.push(m),
                // Staying where one is takes no time unless the file says otherwise.
                None if a == b => travel_full.push(0),
                None => {
                    return Err(PlanError::MissingTravel {
                        from: inst.stations[a].clone(),
                        to: inst.stations[b].clone(),
                    });
                }
            }
        }
    }

    // Known models: every vehicle's and every model `upgrades` names.
    let mut model_names: Vec<String> = Vec::new();
    for v in &inst.vehicles {
        model_names.push(v.model.clone());
    }
    for (m, ups) in &inst.upgrades {
        model_names.push(m.clone());
        model_names.extend(ups.iter().cloned());
    }
    model_names.sort();
    model_names.dedup();
    let model_ix: BTreeMap<&str, usize> = model_names.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let nm = model_names.len();
    let mut serves = vec![Serves::No; nm * nm];
    for m in 0..nm {
        serves[m * nm + m] = Serves::Exact;
    }
    // Indexing `model_ix` cannot fail below: it was built from every vehicle model and every
    // model `upgrades` names.
    for (m, ups) in &inst.upgrades {
        let om = model_ix[m.as_str()];
        for u in ups {
            let cm = model_ix[u.as_str()];
            if cm != om {
                serves[cm * nm + om] = Serves::Upgrade;
            }
        }
    }

    let mut cars = Vec::with_capacity(inst.vehicles.len());
    let mut car_ix: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, v) in inst.vehicles.iter().enumerate() {
        if car_ix.insert(v.id.as_str(), i).is_some() {
            return Err(PlanError::DuplicateVehicle(v.id.clone()));
        }
        let st = station(format!("vehicles[{}].station", v.id), &v.station)?;
        let avail = minutes(&format!("vehicles[{}].available_from", v.id), &v.available_from)?;
        let mut blocked = Vec::with_capacity(v.blocked.len());
        for w in &v.blocked {
            let b0 = minutes(&format!("vehicles[{}].blocked.from", v.id), &w.from)?;
            let b1 = minutes(&format!("vehicles[{}].blocked.to", v.id), &w.to)?;
            if b1 < b0 {
                return Err(PlanError::BlockedWindowReversed { vehicle: v.id.clone() });
            }
            blocked.push((b0, b1));
        }
        cars.push(Car {
            id: v.id.clone(),
            model: model_ix[v.model.as_str()],
            station: st,
            available_from: avail,
            blocked,
        });
    }

    let mut jobs = Vec::with_capacity(inst.orders.len());
    let mut job_ix: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, o) in inst.orders.iter().enumerate() {
        if job_ix.insert(o.id.as_str(), i).is_some() {
            return Err(PlanError::DuplicateOrder(o.id.clone()));
        }
        let model = *model_ix.get(o.model.as_str()).ok_or_else(|| PlanError::UnknownModel {
            order: o.id.clone(),
            model: o.model.clone(),
        })?;
        let ps = station(format!("orders[{}].pickup_station", o.id), &o.pickup_station)?;
        let rs = station(format!("orders[{}].return_station", o.id), &o.return_station)?;
        let p = minutes(&format!("orders[{}].pickup_at", o.id), &o.pickup_at)?;
        let r = minutes(&format!("orders[{}].return_at", o.id), &o.return_at)?;
        if r <= p {
            return Err(PlanError::ReturnBeforePickup { order: o.id.clone() });
        }
        jobs.push(Job {
            id: o.id.clone(),
            model,
            pickup_station: ps,
            pickup_at: p,
            return_station: rs,
            return_at: r,
        });
    }

    let mut previous = vec![None; jobs.len()];
    for a in inst.previous_plan.iter().flatten() {
        let j = *job_ix
            .get(a.order.as_str())
            .ok_or_else(|| PlanError::PreviousUnknownOrder { order: a.order.clone() })?;
        let c = *car_ix
            .get(a.vehicle.as_str())
            .ok_or_else(|| PlanError::PreviousUnknownVehicle {
                order: a.order.clone(),
                vehicle: a.vehicle.clone(),
            })?;
        if previous[j].replace(c).is_some() {
            return Err(PlanError::PreviousDuplicateOrder { order: a.order.clone() });
        }
    }

    let frozen = match &inst.frozen {
        None => None,
        Some(f) => {
            if !minutes_in_range(f.window_minutes) {
                return Err(PlanError::FrozenWindowOutOfRange(f.window_minutes));
            }
            Some((minutes("frozen.now", &f.now)?, f.window_minutes))
        }
    };

    Ok(Problem {
        stations: inst.stations.clone(),
        travel: travel_full,
        turnaround: inst.turnaround_minutes,
        horizon: (h0, h1),
        models: model_names,
        serves,
        cars,
        jobs,
        previous,
        frozen,
    })
}
