//! Why an order is left unserved, in words the desk can act on.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::problem::{Problem, Serves};

/// Why an order has no car.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnassignedReason {
    /// No car of the model or of an allowed upgrade exists.
    NoCompatibleModel,
    /// Every compatible car is blocked (maintenance, breakdown) during the rental.
    AllCompatibleBlocked,
    /// No compatible car can reach the pickup station in time, from its start or after any
    /// other order.
    TooFar,
    /// Compatible cars could serve it, but all are busy with other orders in the plan.
    Capacity,
}

impl fmt::Display for UnassignedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoCompatibleModel => "no car of the requested model or an allowed upgrade exists",
            Self::AllCompatibleBlocked => {
                "every car of the requested model or an allowed upgrade is blocked during the rental"
            }
            Self::TooFar => "no suitable car can reach the pickup station in time",
            Self::Capacity => "all suitable cars are busy with other orders",
        })
    }
}

/// An unserved order and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// Order id.
    pub order: String,
    /// The reason.
    pub reason: UnassignedReason,
}

/// The reason for unserved order `j`; `cars_for_model` lists the cars serving each model.
pub(crate) fn reason(p: &Problem, j: usize, cars_for_model: &[Vec<usize>]) -> UnassignedReason {
    let o = &p.jobs[j];
    let cars = &cars_for_model[o.model];
    if cars.is_empty() {
        return UnassignedReason::NoCompatibleModel;
    }
    // The shortest possible busy span starts at the pickup itself (travel is never negative).
    let busy = (o.pickup_at, p.ready_after(j));
    let free: Vec<usize> = cars
        .iter()
        .copied()
        .filter(|&c| !p.cars[c].blocked.iter().any(|&(b0, b1)| b0 < busy.1 && busy.0 < b1))
        .collect();
    if free.is_empty() {
        return UnassignedReason::AllCompatibleBlocked;
    }
    let from_start = free.iter().any(|&c| {
        let car = &p.cars[c];
        p.leave_time(c, car.station, car.available_from, j).is_some()
    });
    if from_start {
        return UnassignedReason::Capacity;
    }
    // After another order i that one of these cars could serve first.
    let mut model_ok = vec![false; p.models.len()];
    for &c in &free {
        for (m, ok) in model_ok.iter_mut().enumerate() {
            if p.serves(p.cars[c].model, m) != Serves::No {
                *ok = true;
            }
        }
    }
    let after_other = (0..p.jobs.len()).any(|i| {
        let oi = &p.jobs[i];
        i != j && model_ok[oi.model] && p.ready_after(i) + p.travel(oi.return_station, o.pickup_station) <= o.pickup_at
    });
    if after_other {
        UnassignedReason::Capacity
    } else {
        UnassignedReason::TooFar
    }
}
