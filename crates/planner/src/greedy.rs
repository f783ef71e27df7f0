//! The first-come-first-served baseline of FORMAT.md, which the planner is measured against: each
//! order, by pickup time then id, takes the first free car (by id) of its own model, else the
//! first car (by id) of an allowed upgrade. The tests compare it with the second checker's
//! `--greedy` (`tests/check_plan.py`).

use crate::model::{Assignment, Instance, Plan};
use crate::problem::{self, Problem, Serves};

/// The greedy plan, or an empty plan when the instance is invalid (there is no baseline to speak
/// of then; the benchmark only needs valid instances, and `plan` reports the error).
pub fn greedy(instance: &Instance) -> Plan {
    match problem::build(instance) {
        Ok(p) => greedy_problem(&p),
        Err(_) => Plan::default(),
    }
}

pub(crate) fn greedy_assignments(p: &Problem) -> Vec<Option<usize>> {
    let mut jobs: Vec<usize> = (0..p.jobs.len()).collect();
    jobs.sort_by(|&a, &b| (p.jobs[a].pickup_at, &p.jobs[a].id).cmp(&(p.jobs[b].pickup_at, &p.jobs[b].id)));
    let mut cars: Vec<usize> = (0..p.cars.len()).collect();
    cars.sort_by(|&a, &b| p.cars[a].id.cmp(&p.cars[b].id));
    // Where each car is and when it is free after its last order.
    let mut state: Vec<(usize, i64)> = p.cars.iter().map(|c| (c.station, c.available_from)).collect();
    let mut out = vec![None; p.jobs.len()];
    for &j in &jobs {
        let o = &p.jobs[j];
        let chosen = [Serves::Exact, Serves::Upgrade].iter().find_map(|&want| {
            cars.iter().copied().find(|&c| {
                p.serves(p.cars[c].model, o.model) == want && p.leave_time(c, state[c].0, state[c].1, j).is_some()
            })
        });
        if let Some(c) = chosen {
            state[c] = (o.return_station, p.ready_after(j));
            out[j] = Some(c);
        }
    }
    out
}

pub(crate) fn greedy_problem(p: &Problem) -> Plan {
    let by_car = greedy_assignments(p);
    let mut jobs: Vec<usize> = (0..p.jobs.len()).collect();
    jobs.sort_by(|&a, &b| (p.jobs[a].pickup_at, &p.jobs[a].id).cmp(&(p.jobs[b].pickup_at, &p.jobs[b].id)));
    let mut plan = Plan::default();
    for j in jobs {
        match by_car[j] {
            Some(c) => plan.assignments.push(Assignment {
                order: p.jobs[j].id.clone(),
                vehicle: p.cars[c].id.clone(),
            }),
            None => plan.unassigned.push(p.jobs[j].id.clone()),
        }
    }
    plan
}
