//! Exact branch-and-bound for small instances: orders in pickup order, each either appended to a
//! compatible car whose chain it can follow, or left unserved. Because a car serves its orders in
//! pickup order, appending in that order enumerates every feasible plan exactly once. The search
//! keeps the lexicographically best plan (fulfilled, then upgrades, relocation, moved) and prunes
//! a branch when even serving every remaining order could not reach the best fulfilled count, or
//! could only tie it with a worse cost so far. It stops after `node_budget` nodes; only a search
//! that finished proves optimality.

use crate::commodity::Start;
use crate::problem::{Problem, Serves};

/// The lexicographic key to minimise: (-fulfilled, upgrades, relocation, moved).
type Key = (i64, i64, i64, i64);

struct Bb<'a> {
    p: &'a Problem,
    jobs: Vec<usize>,
    prev_car: &'a [Option<usize>],
    state: Vec<Start>,
    assign: Vec<Option<usize>>,
    best: Option<(Key, Vec<Option<usize>>)>,
    nodes: usize,
    budget: usize,
}

/// The best assignment of `jobs` (plannable orders) to cars starting at `start`, or `None`
/// when the budget ran out before the search finished.
/// Orders beyond which the exact search is never tried (it recurses once per order).
pub const MAX_ORDERS: usize = 64;

pub fn solve(
    p: &Problem,
    start: &[Start],
    jobs: &[usize],
    prev_car: &[Option<usize>],
    node_budget: usize,
) -> Option<Vec<Option<usize>>> {
    if jobs.len() > MAX_ORDERS {
        return None;
    }
    let mut jobs = jobs.to_vec();
    jobs.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
    let mut bb = Bb {
        p,
        jobs,
        prev_car,
        state: start.to_vec(),
        assign: vec![None; p.jobs.len()],
        best: None,
        nodes: 0,
        budget: node_budget,
    };
    let finished = bb.go(0, (0, 0, 0, 0));
    if finished { bb.best.map(|b| b.1) } else { None }
}

impl Bb<'_> {
    /// Explores from order `k` on; returns false when the budget ran out.
    fn go(&mut self, k: usize, key: Key) -> bool {
        self.nodes += 1;
        if self.nodes > self.budget {
            return false;
        }
        if let Some((best, _)) = &self.best {
            let remaining = (self.jobs.len() - k) as i64;
            let optimistic = (key.0 - remaining, key.1, key.2, key.3);
            // Serving all the rest ties at best on the count; costs only grow from here.
            if optimistic.0 > best.0 || (remaining == 0 && key >= *best) {
                return true;
            }
            if optimistic.0 == best.0 && (key.1, key.2, key.3) >= (best.1, best.2, best.3) {
                return true;
            }
        }
        if k == self.jobs.len() {
            self.best = Some((key, self.assign.clone()));
            return true;
        }
        let j = self.jobs[k];
        let p = self.p;
        let o = &p.jobs[j];
        for c in 0..p.cars.len() {
            let sv = p.serves(p.cars[c].model, o.model);
            if sv == Serves::No {
                continue;
            }
            let s = self.state[c];
            if p.leave_time(c, s.station, s.ready, j).is_none() {
                continue;
            }
            let moved = match self.prev_car[j] {
                Some(pc) if pc != c => 1,
                _ => 0,
            };
            let next = (
                key.0 - 1,
                key.1 + i64::from(sv == Serves::Upgrade),
                key.2 + p.travel(s.station, o.pickup_station),
                key.3 + moved,
            );
            self.state[c] = Start {
                station: o.return_station,
                ready: p.ready_after(j),
            };
            self.assign[j] = Some(c);
            let ok = self.go(k + 1, next);
            self.assign[j] = None;
            self.state[c] = s;
            if !ok {
                return false;
            }
        }
        let moved = i64::from(self.prev_car[j].is_some());
        self.go(k + 1, (key.0, key.1, key.2, key.3 + moved))
    }
}
