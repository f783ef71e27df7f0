//! The planner's search: frozen prefixes, commodities, block-coordinate exact re-solves, and
//! ejection-chain moves across commodities. Bounds and the exact search live in `bound` and
//! `exact`; this module produces the best plan it can and says which orders it serves.

mod family;
mod group;
mod hood;
mod pair;

pub use group::Lagrangian;

use crate::commodity::{self, Ctx, Start};
use crate::problem::{Problem, Serves};

/// A plan's lexicographic objective, as [`Search::objective`] gives it (greater is better).
pub type Objective = (usize, i64, i64, usize);

/// The state of a planning run.
pub struct Search<'a> {
    pub p: &'a Problem,
    pub start: Vec<Start>,
    /// Orders held by the frozen window, with their car; never touched by the search.
    pub fixed: Vec<Option<usize>>,
    /// Per car, its frozen prefix (pickup order).
    pub fixed_chain: Vec<Vec<usize>>,
    pub prev_next: Vec<Option<usize>>,
    pub prev_first: Vec<Option<usize>>,
    pub prev_car: Vec<Option<usize>>,
    pub max_travel: i64,
    /// Groups of cars solved together: same model and no blocked window after their start.
    pub commodities: Vec<Vec<usize>>,
    pub commodity_of: Vec<usize>,
    /// Current chain of every car (plannable part, pickup order).
    pub chains: Vec<Vec<usize>>,
    /// Current car of every plannable order.
    pub car_of: Vec<Option<usize>>,
    pub usage: Vec<i64>,
    /// Per order model, the cars that may serve it.
    pub cars_for_model: Vec<Vec<usize>>,
    /// Per order, the first car it fits into directly in the committed state, when known.
    fit_cache: Vec<Option<Option<usize>>>,
    /// The chains the last reassignment sweeps ended with, and the commodities they had still
    /// to try (`reassign_sweeps`).
    swept: Option<(Vec<Vec<usize>>, Vec<bool>)>,
    /// Commodities whose cars a kept reassignment changed, for a later relocation re-solve.
    pub reassigned: Vec<bool>,
    /// Per order, what the fit tests read of it (`Timing`), in one small record: the local
    /// moves test fits millions of times, and an order's whole `Job` spans a cache line.
    timing: Vec<Timing>,
    /// Per car, its model and whether it has any blocked window (else a fit needs no window
    /// test).
    car_model: Vec<usize>,
    car_windows: Vec<bool>,
}

/// The part of an order a fit test reads.
#[derive(Debug, Clone, Copy)]
struct Timing {
    pickup_at: i64,
    /// `Problem::ready_after`: return plus turnaround.
    ready: i64,
    /// Return minus pickup (what the order adds to its car's usage).
    span: i64,
    pickup_station: usize,
    return_station: usize,
    model: usize,
}

impl<'a> Search<'a> {
    pub fn new(p: &'a Problem) -> Self {
        let nc = p.cars.len();
        let nj = p.jobs.len();
        let mut start: Vec<Start> = p
            .cars
            .iter()
            .map(|c| Start {
                station: c.station,
                ready: c.available_from,
            })
            .collect();
        // Previous chains per car, in pickup order (ties by index, for determinism).
        let mut prev_chains: Vec<Vec<usize>> = vec![Vec::new(); nc];
        for (j, prev) in p.previous.iter().enumerate() {
            if let Some(c) = *prev {
                prev_chains[c].push(j);
            }
        }
        for ch in prev_chains.iter_mut() {
            ch.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
        }
        // The frozen window: a car keeps its previous orders picked up before now + window,
        // walking its chain; an order its car can no longer serve (a breakdown) is released.
        let mut fixed = vec![None; nj];
        let mut fixed_chain = vec![Vec::new(); nc];
        if let Some((now, window)) = p.frozen {
            let limit = now.saturating_add(window);
            for c in 0..nc {
                for &j in &prev_chains[c] {
                    if p.jobs[j].pickup_at > limit {
                        break;
                    }
                    let s = start[c];
                    let ok = p.serves(p.cars[c].model, p.jobs[j].model) != Serves::No
                        && p.leave_time(c, s.station, s.ready, j).is_some();
                    if ok {
                        fixed[j] = Some(c);
                        fixed_chain[c].push(j);
                        start[c] = Start {
                            station: p.jobs[j].return_station,
                            ready: p.ready_after(j),
                        };
                    }
                }
            }
        }
        let mut prev_next = vec![None; nj];
        let mut prev_first = vec![None; nc];
        let mut prev_car = vec![None; nj];
        for c in 0..nc {
            let rest: Vec<usize> = prev_chains[c].iter().copied().filter(|&j| fixed[j].is_none()).collect();
            prev_first[c] = rest.first().copied();
            for w in rest.windows(2) {
                prev_next[w[0]] = Some(w[1]);
            }
            for &j in &rest {
                prev_car[j] = Some(c);
            }
        }
        let max_travel = (0..p.stations.len())
            .flat_map(|a| (0..p.stations.len()).map(move |b| (a, b)))
            .map(|(a, b)| p.travel(a, b))
            .max()
            .unwrap_or(0);
        // Commodities: one per model for cars whose windows cannot matter any more (all end by
        // the car's start), one per car otherwise. Specialised models first: their cars have
        // the fewest choices, so they choose first in the first round.
        let nm = p.models.len();
        let reach: Vec<usize> = (0..nm)
            .map(|m| (0..nm).filter(|&o| p.serves(m, o) != Serves::No).count())
            .collect();
        let mut groups: Vec<(usize, usize, usize, Vec<usize>)> = Vec::new();
        let mut by_model: Vec<Vec<usize>> = vec![Vec::new(); nm];
        for c in 0..nc {
            if window_ahead(p, c, start[c]) {
                groups.push((reach[p.cars[c].model], p.cars[c].model, 1 + c, vec![c]));
            } else {
                by_model[p.cars[c].model].push(c);
            }
        }
        for (m, cars) in by_model.into_iter().enumerate() {
            if !cars.is_empty() {
                groups.push((reach[m], m, 0, cars));
            }
        }
        groups.sort_by_key(|g| (g.0, g.1, g.2));
        let commodities: Vec<Vec<usize>> = groups.into_iter().map(|g| g.3).collect();
        let mut commodity_of = vec![0; nc];
        for (k, cars) in commodities.iter().enumerate() {
            for &c in cars {
                commodity_of[c] = k;
            }
        }
        let nk = commodities.len();
        Search {
            p,
            start,
            fixed,
            fixed_chain,
            prev_next,
            prev_first,
            prev_car,
            max_travel,
            commodities,
            commodity_of,
            chains: vec![Vec::new(); nc],
            car_of: vec![None; nj],
            usage: vec![0; nc],
            fit_cache: vec![None; nj],
            swept: None,
            reassigned: vec![false; nk],
            timing: p
                .jobs
                .iter()
                .enumerate()
                .map(|(j, o)| Timing {
                    pickup_at: o.pickup_at,
                    ready: p.ready_after(j),
                    span: o.return_at - o.pickup_at,
                    pickup_station: o.pickup_station,
                    return_station: o.return_station,
                    model: o.model,
                })
                .collect(),
            car_model: p.cars.iter().map(|c| c.model).collect(),
            car_windows: p.cars.iter().map(|c| !c.blocked.is_empty()).collect(),
            // Cars of the order's own model first: an ejection chain takes the first car an
            // order fits into, and an upgrade where an exact car fits is a needless one.
            cars_for_model: (0..nm)
                .map(|m| {
                    let mut cars: Vec<usize> = (0..nc)
                        .filter(|&c| p.serves(p.cars[c].model, m) != Serves::No)
                        .collect();
                    cars.sort_by_key(|&c| (p.serves(p.cars[c].model, m) != Serves::Exact, c));
                    cars
                })
                .collect(),
        }
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            p: self.p,
            start: &self.start,
            prev_next: &self.prev_next,
            prev_first: &self.prev_first,
            prev_car: &self.prev_car,
            max_travel: self.max_travel,
        }
    }

    /// Starts from the previous plan: each car keeps the previous orders it can still serve,
    /// walking its chain in pickup order (so a breakdown drops only what it must).
    pub fn warm_start(&mut self) -> Vec<bool> {
        let p = self.p;
        let mut dirty = vec![false; self.commodities.len()];
        for c in 0..p.cars.len() {
            let mut chain = Vec::new();
            let mut s = self.start[c];
            let mut j0 = self.prev_first[c];
            while let Some(j) = j0 {
                let ok = p.serves(p.cars[c].model, p.jobs[j].model) != Serves::No
                    && p.leave_time(c, s.station, s.ready, j).is_some();
                if ok {
                    chain.push(j);
                    s = Start {
                        station: p.jobs[j].return_station,
                        ready: p.ready_after(j),
                    };
                }
                j0 = self.prev_next[j];
            }
            let whole = p.previous.iter().filter(|&&pc| pc == Some(c)).count();
            if chain.len() + self.fixed_chain[c].len() != whole {
                dirty[self.commodity_of[c]] = true;
            }
            self.set_chain(c, chain);
        }
        dirty
    }

    /// Orders served and upgrades used by the cars of commodities `ks` (the two first
    /// objectives of a group of pools, as the group re-solves and pair exchanges compare them).
    pub(crate) fn served_and_upgrades(&self, ks: &[usize]) -> (usize, usize) {
        let p = self.p;
        let (mut served, mut upgrades) = (0, 0);
        for &k in ks {
            for &c in &self.commodities[k] {
                served += self.chains[c].len();
                upgrades += self.chains[c]
                    .iter()
                    .filter(|&&j| p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Upgrade)
                    .count();
            }
        }
        (served, upgrades)
    }

    /// Puts every car back on `chains` (a plan this search had, e.g. before a move that did not
    /// pay off).
    pub fn restore(&mut self, chains: Vec<Vec<usize>>) {
        for c in 0..self.chains.len() {
            self.set_chain(c, Vec::new());
        }
        for (c, chain) in chains.into_iter().enumerate() {
            self.set_chain(c, chain);
        }
        self.fit_cache.iter_mut().for_each(|x| *x = None);
    }

    fn set_chain(&mut self, c: usize, chain: Vec<usize>) {
        for &j in &self.chains[c] {
            if self.car_of[j] == Some(c) {
                self.car_of[j] = None;
            }
        }
        self.usage[c] = chain.iter().map(|&j| self.timing[j].span).sum();
        for &j in &chain {
            self.car_of[j] = Some(c);
        }
        self.chains[c] = chain;
    }

    /// Re-solves commodity `k` exactly over the orders that are free or its own. Returns the
    /// orders that became free or taken (moves inside the commodity concern no one else).
    pub fn resolve(&mut self, k: usize) -> Vec<usize> {
        let p = self.p;
        let cars = self.commodities[k].clone();
        let Some(&first) = cars.first() else {
            return Vec::new();
        };
        let model = p.cars[first].model;
        let jobs: Vec<usize> = (0..p.jobs.len())
            .filter(|&j| {
                self.fixed[j].is_none()
                    && p.serves(model, p.jobs[j].model) != Serves::No
                    && match self.car_of[j] {
                        None => true,
                        Some(c) => self.commodity_of[c] == k,
                    }
            })
            .collect();
        let held_before: Vec<bool> = jobs.iter().map(|&j| self.car_of[j].is_some()).collect();
        let mut usage = self.usage.clone();
        for &c in &cars {
            usage[c] = 0;
        }
        let chains = commodity::solve(&self.ctx(), &cars, &jobs, &mut usage);
        // Only a strictly better solution replaces the current one: equal-cost alternatives
        // would move orders for nothing (stability) and could make the rounds cycle.
        let now = cars.iter().map(|&c| (c, self.chains[c].as_slice()));
        if self.score(&cars, &chains) <= self.score_of(now) {
            return Vec::new();
        }
        for (ci, chain) in chains.into_iter().enumerate() {
            let c = cars[ci];
            if self.chains[c] != chain {
                self.set_chain(c, chain);
            }
        }
        jobs.iter()
            .zip(held_before)
            .filter(|&(&j, before)| self.car_of[j].is_some() != before)
            .map(|(&j, _)| j)
            .collect()
    }

    /// The lexicographic objective of a commodity's chains: (served, fewer upgrades, fewer
    /// relocation minutes, more previous-plan links kept).
    fn score(&self, cars: &[usize], chains: &[Vec<usize>]) -> (usize, i64, i64, usize) {
        self.score_of(cars.iter().zip(chains).map(|(&c, chain)| (c, chain.as_slice())))
    }

    /// [`Search::score`] of the given (car, chain) pairs, so that the current chains are
    /// scored where they are, without copies.
    fn score_of<'c>(&self, chains: impl Iterator<Item = (usize, &'c [usize])>) -> (usize, i64, i64, usize) {
        let p = self.p;
        let (mut served, mut upgrades, mut reloc, mut links) = (0usize, 0i64, 0i64, 0usize);
        for (c, chain) in chains {
            served += chain.len();
            let mut at = self.start[c].station;
            let mut before: Option<usize> = None;
            for &j in chain {
                let o = &p.jobs[j];
                if p.serves(p.cars[c].model, o.model) == Serves::Upgrade {
                    upgrades += 1;
                }
                reloc += p.travel(at, o.pickup_station);
                let kept = match before {
                    None => self.prev_first[c] == Some(j),
                    Some(i) => self.prev_next[i] == Some(j),
                };
                if kept {
                    links += 1;
                }
                at = o.return_station;
                before = Some(j);
            }
        }
        (served, -upgrades, -reloc, links)
    }

    /// Block-coordinate rounds: every dirty commodity in turn, until none is dirty or
    /// `max_rounds` is reached. Each re-solve is optimal for its commodity given the others, so
    /// the lexicographic objective never gets worse; a commodity becomes dirty again only when
    /// an order it could serve was freed by another.
    pub fn rounds(&mut self, max_rounds: usize, only: Option<&[bool]>) {
        let nk = self.commodities.len();
        let mut dirty: Vec<bool> = match only {
            Some(d) => d.to_vec(),
            None => vec![true; nk],
        };
        for _ in 0..max_rounds {
            if !dirty.iter().any(|&d| d) {
                break;
            }
            for k in 0..nk {
                if !dirty[k] {
                    continue;
                }
                dirty[k] = false;
                let changed = self.resolve(k);
                // Only a freed order can make another commodity's solution improvable: an
                // order taken from the free ones was not in that commodity's solution, which
                // stays optimal over what is left to it (re-solving it would change nothing, as
                // only a strictly better solution replaces the current one).
                let mut models = vec![false; self.p.models.len()];
                for j in changed {
                    if self.car_of[j].is_none() {
                        models[self.p.jobs[j].model] = true;
                    }
                }
                for (k2, cars) in self.commodities.iter().enumerate() {
                    if k2 == k {
                        continue;
                    }
                    // Commodities are never empty (built from at least one car each).
                    let cm = self.p.cars[cars[0]].model;
                    if (0..models.len()).any(|m| models[m] && self.p.serves(cm, m) != Serves::No) {
                        dirty[k2] = true;
                    }
                }
            }
        }
    }

    /// The global lexicographic objective of the current plan (greater is better): served,
    /// fewer upgrades, fewer relocation minutes, more previous-plan links kept.
    pub fn objective(&self) -> Objective {
        let mut total = (self.fixed.iter().filter(|f| f.is_some()).count(), 0, 0, 0);
        for cars in &self.commodities {
            let sc = self.score_of(cars.iter().map(|&c| (c, self.chains[c].as_slice())));
            total = (total.0 + sc.0, total.1 + sc.1, total.2 + sc.2, total.3 + sc.3);
        }
        total
    }

    /// Rebuilds the plan commodity by commodity (most specialised first), each taking free
    /// orders by their Lagrangian worth `scale - price` (so contested orders are left to those
    /// that need them most), then polishes it and runs `sweeps` reassignment sweeps; keeps it
    /// only when better than the current plan.
    pub fn recover_priced(&mut self, price: &[i64], scale: i64, budget: usize, sweeps: usize) -> bool {
        let before = self.objective();
        let snapshot = self.chains.clone();
        for c in 0..self.chains.len() {
            self.set_chain(c, Vec::new());
        }
        let p = self.p;
        for k in 0..self.commodities.len() {
            let cars = self.commodities[k].clone();
            let model = p.cars[cars[0]].model;
            let jobs: Vec<usize> = (0..p.jobs.len())
                .filter(|&j| {
                    self.fixed[j].is_none()
                        && self.car_of[j].is_none()
                        && price[j] < scale
                        && p.serves(model, p.jobs[j].model) != Serves::No
                })
                .collect();
            // Worth in units of 1/1024 order, far above the relocation tie-breaks.
            let weight: Vec<i64> = jobs.iter().map(|&j| ((scale - price[j]) >> 20).max(1) << 20).collect();
            let mut usage = self.usage.clone();
            let chains = commodity::solve_priced(&self.ctx(), &cars, &jobs, &weight, &mut usage);
            for (ci, chain) in chains.into_iter().enumerate() {
                self.set_chain(cars[ci], chain);
            }
        }
        self.polish(budget);
        // Reassignment before judging the rebuilt plan: one sweep of the pools often serves one
        // or two more orders than the polish left, and turns many of its upgrades into exact
        // cars; the single cars wait for the final sweeps.
        self.reassign_sweeps(sweeps, budget, false);
        if self.objective() > before {
            true
        } else {
            for (c, chain) in snapshot.into_iter().enumerate() {
                self.set_chain(c, chain);
            }
            false
        }
    }

    /// Reassignment sweeps (after the search has settled, and on every priced recovery): each
    /// commodity in turn re-solves exactly over every order it may serve, each worth what
    /// serving it here changes in the whole plan ([`commodity::Delta`]): a free order one order
    /// (less its upgrade); an own order that a car elsewhere could take directly only the
    /// upgrade difference; an order another commodity serves, the upgrade it then saves, plus one
    /// order when the gap it leaves there lets that car serve a free order. The move is then
    /// carried out (taken orders leave their cars, the gaps go to free orders, the dropped orders
    /// are re-placed by ejection chains) and kept only when the lexicographic objective strictly
    /// improves, so no sweep serves fewer orders or, serving as many, more upgrades. This is
    /// what exchanges orders between commodities by upgrade, which block-coordinate rounds
    /// (each commodity over its free and own orders) cannot. A commodity is tried again in the
    /// next sweep only when a kept move changed an order it may serve; stops after `max_sweeps`.
    /// The commodities whose cars changed are marked in `Search::reassigned`. Without
    /// `singles`, only pooled commodities are tried (most single cars find nothing, and they
    /// are most of the commodities).
    pub fn reassign_sweeps(&mut self, max_sweeps: usize, budget: usize, singles: bool) {
        let p = self.p;
        let nk = self.commodities.len();
        // Where the last sweeps left off, if the plan is still theirs: only what they had not
        // settled yet is tried again.
        let mut dirty = match self.swept.take() {
            Some((chains, dirty)) if chains == self.chains => dirty,
            _ => vec![true; nk],
        };
        for _ in 0..max_sweeps {
            if !dirty.iter().any(|&d| d) {
                break;
            }
            for k in 0..nk {
                // Skipped ones stay due for the next call.
                if !singles && self.commodities[k].len() == 1 {
                    continue;
                }
                if !std::mem::take(&mut dirty[k]) {
                    continue;
                }
                let Some(changed) = self.reassign(k, budget) else {
                    continue;
                };
                let mut models = vec![false; p.models.len()];
                for j in changed {
                    models[p.jobs[j].model] = true;
                    if let Some(c) = self.car_of[j] {
                        self.reassigned[self.commodity_of[c]] = true;
                    }
                }
                self.reassigned[k] = true;
                for (k2, cars) in self.commodities.iter().enumerate() {
                    // Commodities are never empty (built from at least one car each).
                    let cm = p.cars[cars[0]].model;
                    if (0..models.len()).any(|m| models[m] && p.serves(cm, m) != Serves::No) {
                        dirty[k2] = true;
                    }
                }
            }
        }
        self.swept = Some((self.chains.clone(), dirty));
    }

    /// What serving order `j` in commodity `k` is worth to the whole plan (see
    /// [`Search::reassign_sweeps`]), or `None` when `k` should leave it alone. `free` is the
    /// free orders by pickup time.
    fn worth(&self, k: usize, j: usize, free: &[usize]) -> Option<commodity::Delta> {
        let p = self.p;
        let model = p.cars[self.commodities[k][0]].model;
        let here = p.serves(model, p.jobs[j].model);
        if self.fixed[j].is_some() || here == Serves::No {
            return None;
        }
        let up_here = i64::from(here == Serves::Upgrade);
        let served = commodity::Delta {
            orders: 1,
            upgrades: up_here,
            keep: 0,
        };
        match self.car_of[j] {
            None => Some(served),
            Some(c) if self.commodity_of[c] == k => match self.alternative(k, j) {
                Some(up_there) => Some(commodity::Delta {
                    orders: 0,
                    upgrades: up_here - up_there,
                    keep: 1,
                }),
                // Kept rather than swapped for a free order of the same worth.
                None => Some(commodity::Delta { keep: 1, ..served }),
            },
            Some(c) => {
                let there = i64::from(p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Upgrade);
                let mut d = commodity::Delta {
                    orders: 0,
                    upgrades: up_here - there,
                    keep: 0,
                };
                if let Some(up_fill) = self.gap_fill(c, j, free) {
                    d.orders = 1;
                    d.upgrades += up_fill;
                }
                (d.orders > 0 || d.upgrades < 0).then_some(d)
            }
        }
    }

    /// One move of [`Search::reassign_sweeps`] for commodity `k`: the orders whose car changed
    /// when it was kept, `None` when it was not (the plan is then exactly as before).
    fn reassign(&mut self, k: usize, budget: usize) -> Option<Vec<usize>> {
        let p = self.p;
        let cars = self.commodities[k].clone();
        let mut free: Vec<usize> = (0..p.jobs.len())
            .filter(|&j| self.fixed[j].is_none() && self.car_of[j].is_none())
            .collect();
        free.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
        let mut jobs = Vec::new();
        let mut delta = Vec::new();
        // Worth trying only when some order is worth more here than where it is: a free one
        // (with an own order that could make room), or one taken from elsewhere, or an own one
        // better served elsewhere.
        let (mut free_here, mut movable, mut gain) = (false, false, false);
        for j in 0..p.jobs.len() {
            let Some(d) = self.worth(k, j, &free) else {
                continue;
            };
            match self.car_of[j] {
                None => free_here = true,
                Some(c) if self.commodity_of[c] == k => {
                    movable |= d.orders == 0;
                    gain |= d.orders == 0 && d.upgrades > 0;
                }
                Some(_) => gain = true,
            }
            jobs.push(j);
            delta.push(d);
        }
        if !(gain || (free_here && movable)) {
            return None;
        }
        let mut usage = self.usage.clone();
        for &c in &cars {
            usage[c] = 0;
        }
        let chains = commodity::solve_delta(&self.ctx(), &cars, &jobs, &delta, &mut usage);
        if cars.iter().zip(&chains).all(|(&c, chain)| self.chains[c] == *chain) {
            return None;
        }
        // The chains before the move, of the cars it changes only (a whole copy of the plan per
        // move would cost more than most moves): commodity `k`'s and the gaps' before they
        // change, the cars the ejection chains change from their first journal entry.
        let mut snapshot: Vec<Option<Vec<usize>>> = vec![None; p.cars.len()];
        for &c in &cars {
            snapshot[c] = Some(self.chains[c].clone());
        }
        let mut taken = vec![false; p.jobs.len()];
        for chain in &chains {
            for &j in chain {
                taken[j] = true;
            }
        }
        // Orders taken from other commodities leave their cars; what no longer verifies there
        // (travel times need not obey the triangle inequality) is freed too.
        let mut touched: Vec<usize> = cars.clone();
        let mut gaps = Vec::new();
        for (c, before) in snapshot.iter_mut().enumerate() {
            if self.commodity_of[c] == k || !self.chains[c].iter().any(|&j| taken[j]) {
                continue;
            }
            let rest: Vec<usize> = self.chains[c].iter().copied().filter(|&j| !taken[j]).collect();
            let kept = self.verified(c, &rest);
            *before = Some(self.chains[c].clone());
            gaps.push(c);
            self.set_chain(c, kept);
        }
        touched.extend_from_slice(&gaps);
        let mut released: Vec<usize> = cars
            .iter()
            .flat_map(|&c| self.chains[c].iter().copied())
            .filter(|&j| !taken[j])
            .collect();
        for (ci, chain) in chains.into_iter().enumerate() {
            self.set_chain(cars[ci], chain);
        }
        self.fit_cache.iter_mut().for_each(|x| *x = None);
        // The gaps go to the free orders (an exact car first), then the released orders are
        // re-placed by ejection chains.
        for &c in &gaps {
            let before = snapshot[c].as_deref().unwrap_or_default();
            released.extend(before.iter().copied().filter(|&j| self.car_of[j].is_none()));
        }
        let mut free: Vec<usize> = (0..p.jobs.len())
            .filter(|&j| self.fixed[j].is_none() && self.car_of[j].is_none())
            .collect();
        free.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
        if !gaps.is_empty() {
            for &u in &free {
                let mut pick: Option<(bool, usize, usize)> = None;
                for &c in &gaps {
                    if let Some(pos) = self.fits(c, u) {
                        let upgrade = p.serves(p.cars[c].model, p.jobs[u].model) == Serves::Upgrade;
                        if pick.is_none_or(|(b, _, _)| b && !upgrade) {
                            pick = Some((upgrade, c, pos));
                        }
                    }
                }
                if let Some((_, c, pos)) = pick {
                    self.insert_at(c, u, pos);
                }
            }
        }
        released.sort_unstable();
        for u in free {
            if self.car_of[u].is_none() && released.binary_search(&u).is_ok() {
                let mut journal = Vec::new();
                let mut b = budget;
                self.augment(u, 1, &mut journal, &mut b);
                for (c, chain) in journal {
                    touched.push(c);
                    // The first entry of a car not changed before is its chain before the move.
                    if snapshot[c].is_none() {
                        snapshot[c] = Some(chain);
                    }
                }
            }
        }
        self.fit_cache.iter_mut().for_each(|x| *x = None);
        touched.sort_unstable();
        touched.dedup();
        let old: Vec<Vec<usize>> = touched
            .iter()
            .map(|&c| snapshot[c].take().unwrap_or_default())
            .collect();
        let new: Vec<Vec<usize>> = touched.iter().map(|&c| self.chains[c].clone()).collect();
        // Kept only for more orders served, or as many with fewer upgrades: relocation alone is
        // left to the block-coordinate rounds, where it is cheaper.
        let (after, before) = (self.score(&touched, &new), self.score(&touched, &old));
        if (after.0, after.1) > (before.0, before.1) {
            let mut changed: Vec<usize> = Vec::new();
            for (o, n) in old.iter().zip(&new) {
                changed.extend(o.iter().filter(|j| !n.contains(j)));
                changed.extend(n.iter().filter(|j| !o.contains(j)));
            }
            return Some(changed);
        }
        for (&c, chain) in touched.iter().zip(old) {
            self.set_chain(c, chain);
        }
        None
    }

    /// Whether car `c`, without its order `j`, could serve one of the free orders `free` (by
    /// pickup time) directly in the gap, and then whether as an upgrade (1) or not (0).
    fn gap_fill(&self, c: usize, j: usize, free: &[usize]) -> Option<i64> {
        let p = self.p;
        let chain = &self.chains[c];
        let pos = chain.iter().position(|&x| x == j)?;
        let rest: Vec<usize> = chain.iter().copied().filter(|&x| x != j).collect();
        // Candidates picked up after the previous order's return, before the next pickup.
        let lo = if pos == 0 {
            self.start[c].ready
        } else {
            p.ready_after(chain[pos - 1])
        };
        let hi = chain.get(pos + 1).map_or(i64::MAX, |&n| p.jobs[n].pickup_at);
        let from = free.partition_point(|&f| p.jobs[f].pickup_at < lo);
        let mut best = None;
        for &f in &free[from..] {
            if p.jobs[f].pickup_at >= hi {
                break;
            }
            let sv = p.serves(p.cars[c].model, p.jobs[f].model);
            if sv == Serves::No || self.fits_in(c, &rest, f).is_none() {
                continue;
            }
            if sv == Serves::Exact {
                return Some(0);
            }
            best = Some(1);
        }
        best
    }

    /// Whether order `j` fits directly into a car outside commodity `k`, and then whether as an
    /// upgrade (1) or not (0); the best such car counts.
    fn alternative(&self, k: usize, j: usize) -> Option<i64> {
        let p = self.p;
        let mut best = None;
        // Cars of the order's own model come first in `cars_for_model`.
        for &d in &self.cars_for_model[p.jobs[j].model] {
            if self.commodity_of[d] == k || self.fits(d, j).is_none() {
                continue;
            }
            if p.serves(p.cars[d].model, p.jobs[j].model) == Serves::Exact {
                return Some(0);
            }
            best = Some(1);
            break;
        }
        best
    }

    /// The longest prefix-preserving walk of `chain` that car `c` can serve: orders it can no
    /// longer reach in time (or that clash with its windows) are left out.
    fn verified(&self, c: usize, chain: &[usize]) -> Vec<usize> {
        let p = self.p;
        let mut s = self.start[c];
        let mut out = Vec::with_capacity(chain.len());
        for &j in chain {
            if p.serves(p.cars[c].model, p.jobs[j].model) != Serves::No
                && p.leave_time(c, s.station, s.ready, j).is_some()
            {
                out.push(j);
                s = Start {
                    station: p.jobs[j].return_station,
                    ready: p.ready_after(j),
                };
            }
        }
        out
    }

    /// Block-coordinate rounds to a fixed point, then ejection-chain passes each followed by
    /// rounds on the commodities they touched, while they serve more orders.
    pub fn polish(&mut self, budget: usize) {
        const ROUNDS: usize = 8;
        const PASSES: usize = 4;
        self.rounds(ROUNDS, None);
        for _ in 0..PASSES {
            let before = self.fulfilled();
            let touched = self.improve(1, budget);
            self.rounds(ROUNDS, Some(&touched));
            if self.fulfilled() == before {
                break;
            }
        }
    }

    /// Ejection-chain passes from a fresh cache until one serves no more orders. The plan
    /// `plan` returns is such a fixed point, so re-planning it unchanged (which runs the same
    /// passes) changes nothing.
    pub fn settle(&mut self, budget: usize) {
        loop {
            self.fit_cache.iter_mut().for_each(|x| *x = None);
            let before = self.fulfilled();
            self.improve(1, budget);
            if self.fulfilled() == before {
                break;
            }
        }
    }

    pub fn fulfilled(&self) -> usize {
        self.car_of.iter().filter(|c| c.is_some()).count() + self.fixed.iter().filter(|c| c.is_some()).count()
    }

    /// Final assignment: order → car, including the frozen ones.
    pub fn assignment(&self) -> Vec<Option<usize>> {
        self.car_of.iter().zip(&self.fixed).map(|(a, f)| f.or(*a)).collect()
    }

    /// Whether car `c` may serve `chain` (pickup order) from its start.
    pub fn feasible(&self, c: usize, chain: &[usize]) -> bool {
        let p = self.p;
        let mut s = self.start[c];
        for &j in chain {
            if p.serves(p.cars[c].model, p.jobs[j].model) == Serves::No {
                return false;
            }
            if p.leave_time(c, s.station, s.ready, j).is_none() {
                return false;
            }
            s = Start {
                station: p.jobs[j].return_station,
                ready: p.ready_after(j),
            };
        }
        true
    }

    /// Where order `u` would go in car `c`'s chain, and whether it fits there without moving
    /// anything: only the neighbours matter (the state after an order is its return).
    fn fits(&self, c: usize, u: usize) -> Option<usize> {
        self.fits_in(c, &self.chains[c], u)
    }

    fn fits_in(&self, c: usize, chain: &[usize], u: usize) -> Option<usize> {
        let tu = self.timing[u];
        if self.p.serves(self.car_model[c], tu.model) == Serves::No {
            return None;
        }
        let pos = chain.partition_point(|&j| self.timing[j].pickup_at <= tu.pickup_at);
        let (at, ready) = match pos.checked_sub(1).and_then(|i| chain.get(i)) {
            None => (self.start[c].station, self.start[c].ready),
            Some(&q) => (self.timing[q].return_station, self.timing[q].ready),
        };
        if !self.may_leave(c, at, ready, u) {
            return None;
        }
        if let Some(&n) = chain.get(pos)
            && !self.may_leave(c, tu.return_station, tu.ready, n)
        {
            return None;
        }
        Some(pos)
    }

    /// `Problem::leave_time(c, at, ready, j).is_some()`, from the order's `Timing`, and the
    /// window test only for a car that has windows.
    fn may_leave(&self, c: usize, at: usize, ready: i64, j: usize) -> bool {
        let t = self.timing[j];
        if ready > t.pickup_at - self.p.travel(at, t.pickup_station) {
            return false;
        }
        !self.car_windows[c] || self.p.leave_time(c, at, ready, j).is_some()
    }

    /// Whether car `c`, whose (feasible) `chain` this is, may serve `chain[..a]`, then `u`,
    /// then `chain[b..]`: the same answer as `feasible` on that chain, checking only `u`'s
    /// neighbours.
    fn fits_between(&self, c: usize, chain: &[usize], a: usize, b: usize, u: usize) -> bool {
        let tu = self.timing[u];
        if self.p.serves(self.car_model[c], tu.model) == Serves::No {
            return false;
        }
        let (at, ready) = match a.checked_sub(1).and_then(|i| chain.get(i)) {
            None => (self.start[c].station, self.start[c].ready),
            Some(&q) => (self.timing[q].return_station, self.timing[q].ready),
        };
        if !self.may_leave(c, at, ready, u) {
            return false;
        }
        match chain.get(b) {
            None => true,
            Some(&n) => self.may_leave(c, tu.return_station, tu.ready, n),
        }
    }

    fn insert_at(&mut self, c: usize, u: usize, pos: usize) {
        // Taken rather than copied: every order of the old chain is in the new one, so
        // `set_chain` need not see the old chain to clear its orders' car first.
        let mut chain = std::mem::take(&mut self.chains[c]);
        chain.insert(pos, u);
        self.set_chain(c, chain);
    }

    /// Tries to serve the free order `u`, ejecting at most a few orders on the way, each of which
    /// must be served again elsewhere (an ejection chain of `depth` levels). Changes are
    /// journalled so a failed attempt is undone exactly.
    /// A car other than the journalled ones' current state into which `e` fits directly, using
    /// a cache of answers for the committed state (valid until the next commit).
    fn direct(&mut self, e: usize, journal: &[(usize, Vec<usize>)]) -> Option<(usize, usize)> {
        let in_journal = |c: usize| journal.iter().any(|(d, _)| *d == c);
        let cached = match self.fit_cache[e] {
            Some(x) => x,
            None => {
                let mut found = None;
                for &c in &self.cars_for_model[self.p.jobs[e].model] {
                    // The committed chain of a journalled car is its first journal entry.
                    let chain = journal
                        .iter()
                        .find(|(d, _)| *d == c)
                        .map(|(_, ch)| ch.as_slice())
                        .unwrap_or(&self.chains[c]);
                    if self.fits_in(c, chain, e).is_some() {
                        found = Some(c);
                        break;
                    }
                }
                self.fit_cache[e] = Some(found);
                found
            }
        };
        if let Some(c) = cached
            && !in_journal(c)
            && let Some(pos) = self.fits(c, e)
        {
            return Some((c, pos));
        }
        // Journalled cars changed since; check them, and rescan when the cached car is one.
        for (c, _) in journal {
            if let Some(pos) = self.fits(*c, e) {
                return Some((*c, pos));
            }
        }
        if cached.is_some_and(in_journal) {
            for &c in &self.cars_for_model[self.p.jobs[e].model] {
                if !in_journal(c)
                    && let Some(pos) = self.fits(c, e)
                {
                    return Some((c, pos));
                }
            }
        }
        None
    }

    /// Tries to serve the free order `u`, ejecting one or two orders of a car on the way, each
    /// of which must be served again elsewhere (an ejection chain of `depth` levels). Changes are
    /// journalled so that a failed attempt is undone exactly.
    fn augment(&mut self, u: usize, depth: usize, journal: &mut Vec<(usize, Vec<usize>)>, budget: &mut usize) -> bool {
        if let Some((c, pos)) = self.direct(u, journal) {
            journal.push((c, self.chains[c].clone()));
            self.insert_at(c, u, pos);
            return true;
        }
        if depth == 0 {
            return false;
        }
        // By place, not through a borrowed list: `eject_into` needs `self` mutably, and
        // `cars_for_model` never changes after `Search::new`.
        let model = self.p.jobs[u].model;
        for i in 0..self.cars_for_model[model].len() {
            let c = self.cars_for_model[model][i];
            if journal.iter().any(|(d, _)| *d == c) {
                continue;
            }
            match self.eject_into(c, u, depth, journal, budget) {
                Some(true) => return true,
                Some(false) => {}
                None => return false,
            }
        }
        false
    }

    /// Puts the unassigned order `u` into car `c` (not journalled yet) in place of one or two
    /// consecutive orders next to its insertion point, each of which must be served again
    /// elsewhere by [`Search::augment`] with `depth - 1` levels. `Some(true)` when done
    /// (journalled), `Some(false)` when no window works (nothing changed), `None` when the
    /// budget ran out (nothing changed).
    fn eject_into(
        &mut self,
        c: usize,
        u: usize,
        depth: usize,
        journal: &mut Vec<(usize, Vec<usize>)>,
        budget: &mut usize,
    ) -> Option<bool> {
        let pu = self.timing[u].pickup_at;
        let pos = self.chains[c].partition_point(|&j| self.timing[j].pickup_at <= pu);
        let len = self.chains[c].len();
        // Remove one or two consecutive orders next to the insertion point.
        for (a, b) in [
            (pos.wrapping_sub(1), pos),
            (pos, pos + 1),
            (pos.wrapping_sub(1), pos + 1),
            (pos.wrapping_sub(2), pos),
            (pos, pos + 2),
        ] {
            if !(a < b && b <= len) {
                continue;
            }
            if *budget == 0 {
                return None;
            }
            *budget -= 1;
            // The chain is feasible, and the state after an order is its return: only
            // `u` after `chain[a - 1]` and `chain[b]` after `u` need checking.
            // Car `c`'s chain is what it was on entry here: a failed window is rolled back.
            if !self.fits_between(c, &self.chains[c], a, b, u) {
                continue;
            }
            let chain = self.chains[c].clone();
            let mut next: Vec<usize> = chain[..a].to_vec();
            next.push(u);
            next.extend_from_slice(&chain[b..]);
            debug_assert!(self.feasible(c, &next));
            let ejected: Vec<usize> = chain[a..b].to_vec();
            let mark = journal.len();
            journal.push((c, chain));
            self.set_chain(c, next);
            let mut ok = true;
            for &e in &ejected {
                if !self.augment(e, depth - 1, journal, budget) {
                    ok = false;
                    break;
                }
            }
            if ok {
                return Some(true);
            }
            self.rollback(journal, mark);
        }
        Some(false)
    }

    /// Upgrade ejection chains: each order served by upgrade is taken off its car and put into
    /// a car of its own model, directly or in place of one or two of that car's orders, which
    /// ejection chains (`depth - 1` levels, the order's old car included) must serve again;
    /// the gaps left are then offered to the free orders (an exact car first). The move is kept
    /// only when the cars it changed serve more orders, or as many with fewer upgrades, so the
    /// plan's fulfilment never falls and its upgrades never rise. This reaches exchanges the
    /// reassignment sweeps do not price: there an order displaced from a car of the wanted
    /// model must fit somewhere directly, here it may push another order on in turn. Passes
    /// over the upgraded orders (by pickup time) until one keeps nothing, at most
    /// `max_passes`. The cars of the order's model are tried by iterative deepening (every one
    /// directly, then each with one level of ejection, and so on), `budget` trials per order
    /// and level. Returns the moves kept.
    pub fn upgrade_chains(&mut self, depth: usize, budget: usize, max_passes: usize) -> usize {
        let p = self.p;
        let mut kept = 0usize;
        // Trials keep the cache valid for the committed state (a journalled car's committed
        // chain is its first journal entry); only a kept move resets it.
        self.fit_cache.iter_mut().for_each(|x| *x = None);
        for _ in 0..max_passes {
            let upgraded = |s: &Self, j: usize| {
                s.car_of[j].is_some_and(|c| p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Upgrade)
            };
            let mut todo: Vec<usize> = (0..p.jobs.len()).filter(|&j| upgraded(self, j)).collect();
            todo.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
            let before = kept;
            for j in todo {
                if upgraded(self, j) && self.upgrade_move(j, depth, budget) {
                    kept += 1;
                }
            }
            if kept == before {
                break;
            }
        }
        self.fit_cache.iter_mut().for_each(|x| *x = None);
        kept
    }

    /// One move of [`Search::upgrade_chains`] for the upgraded order `j`; the plan is exactly
    /// as before when it returns `false`.
    fn upgrade_move(&mut self, j: usize, depth: usize, budget: usize) -> bool {
        let p = self.p;
        let Some(c) = self.car_of[j] else {
            return false;
        };
        let exact: Vec<usize> = self.cars_for_model[p.jobs[j].model]
            .iter()
            .copied()
            .take_while(|&d| p.serves(p.cars[d].model, p.jobs[j].model) == Serves::Exact)
            .collect();
        let mut journal = vec![(c, self.chains[c].clone())];
        // Without `j` the next order is left for from farther back, earlier, which may clash
        // with a blocked window (or break the travel times, which need not obey the triangle
        // inequality): what no longer verifies is freed, to be placed again like any free order.
        let rest: Vec<usize> = self.chains[c].iter().copied().filter(|&x| x != j).collect();
        let rest = self.verified(c, &rest);
        self.set_chain(c, rest);
        let free: Vec<usize> = {
            let mut f: Vec<usize> = (0..p.jobs.len())
                .filter(|&x| x != j && self.fixed[x].is_none() && self.car_of[x].is_none())
                .collect();
            f.sort_by_key(|&x| (p.jobs[x].pickup_at, x));
            f
        };
        // Iterative deepening: every car of the model directly, then each with one level of
        // ejection, and so on; `budget` trials per order and level.
        let trials = (0..=depth).flat_map(|level| exact.iter().map(move |&d| (level, d)));
        let mut b = budget;
        let mut level_now = 0;
        for (level, d) in trials {
            if level != level_now {
                (level_now, b) = (level, budget);
            }
            let placed = if level == 0 {
                match self.fits(d, j) {
                    Some(pos) => {
                        journal.push((d, self.chains[d].clone()));
                        self.insert_at(d, j, pos);
                        true
                    }
                    None => false,
                }
            } else {
                self.eject_into(d, j, level, &mut journal, &mut b) == Some(true)
            };
            if !placed {
                continue;
            }
            // The gaps go to the free orders, an exact car first.
            let mut cars: Vec<usize> = journal.iter().map(|(x, _)| *x).collect();
            cars.sort_unstable();
            cars.dedup();
            for &u in &free {
                if self.car_of[u].is_some() {
                    continue;
                }
                let mut pick: Option<(bool, usize, usize)> = None;
                for &x in &cars {
                    if let Some(pos) = self.fits(x, u) {
                        let up = p.serves(p.cars[x].model, p.jobs[u].model) == Serves::Upgrade;
                        if pick.is_none_or(|(b, _, _)| b && !up) {
                            pick = Some((up, x, pos));
                        }
                    }
                }
                if let Some((_, x, pos)) = pick {
                    journal.push((x, self.chains[x].clone()));
                    self.insert_at(x, u, pos);
                }
            }
            // A car's committed chain is its first journal entry.
            let old: Vec<Vec<usize>> = cars
                .iter()
                .map(|&x| {
                    journal
                        .iter()
                        .find(|(y, _)| *y == x)
                        .map(|(_, ch)| ch.clone())
                        .unwrap_or_default()
                })
                .collect();
            let new: Vec<Vec<usize>> = cars.iter().map(|&x| self.chains[x].clone()).collect();
            let (after, before) = (self.score(&cars, &new), self.score(&cars, &old));
            if (after.0, after.1) > (before.0, before.1) {
                debug_assert!(cars.iter().all(|&x| self.feasible(x, &self.chains[x])));
                for &x in &cars {
                    self.reassigned[self.commodity_of[x]] = true;
                }
                // The cache answers for the committed state, which changed (and a car got
                // emptier, so "fits nowhere" may be stale too).
                self.fit_cache.iter_mut().for_each(|x| *x = None);
                return true;
            }
            // Back to `j` off its car only.
            self.rollback(&mut journal, 1);
        }
        self.rollback(&mut journal, 0);
        false
    }

    fn rollback(&mut self, journal: &mut Vec<(usize, Vec<usize>)>, mark: usize) {
        while journal.len() > mark {
            if let Some((c, chain)) = journal.pop() {
                self.set_chain(c, chain);
            }
        }
    }

    /// Ejection-chain pass over the free orders; returns the commodities it changed.
    pub fn improve(&mut self, depth: usize, budget_per_order: usize) -> Vec<bool> {
        let p = self.p;
        let mut touched = vec![false; self.commodities.len()];
        let mut free: Vec<usize> = (0..p.jobs.len())
            .filter(|&j| self.fixed[j].is_none() && self.car_of[j].is_none())
            .collect();
        free.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
        for u in free {
            if self.car_of[u].is_some() {
                continue;
            }
            let mut journal = Vec::new();
            let mut budget = budget_per_order;
            if self.augment(u, depth, &mut journal, &mut budget) {
                // Answers naming a changed car may be stale; "fits nowhere" answers are kept
                // (cars only got fuller, except where an ejected order was re-placed).
                for x in self.fit_cache.iter_mut() {
                    if let Some(Some(c)) = *x
                        && journal.iter().any(|(d, _)| *d == c)
                    {
                        *x = None;
                    }
                }
                for (c, _) in &journal {
                    touched[self.commodity_of[*c]] = true;
                }
            }
        }
        touched
    }
}

#[cfg(test)]
impl Search<'_> {
    /// What is wrong with the plan's bookkeeping, if anything: every chain feasible, every order
    /// on one car at most and `car_of` naming it, `fulfilled` their count.
    pub(crate) fn inconsistency(&self) -> Option<String> {
        let mut seen = vec![0usize; self.p.jobs.len()];
        for c in 0..self.p.cars.len() {
            if !self.feasible(c, &self.chains[c]) {
                return Some(format!("car {c}'s chain is infeasible"));
            }
            for &j in &self.chains[c] {
                seen[j] += 1;
                if self.car_of[j] != Some(c) {
                    return Some(format!("order {j} is on car {c}, car_of says {:?}", self.car_of[j]));
                }
            }
        }
        if let Some(j) = seen.iter().position(|&n| n > 1) {
            return Some(format!("order {j} is on {} cars", seen[j]));
        }
        let on_cars = seen.iter().sum::<usize>();
        (self.fulfilled() != on_cars).then(|| format!("fulfilled {} but {on_cars} on cars", self.fulfilled()))
    }
}

#[cfg(test)]
impl Search<'_> {
    /// A rough plan for the moves' property tests to improve: the warm start, then a short
    /// polish or a single round of block-coordinate steps.
    pub(crate) fn rough_start(&mut self, polish: bool) {
        self.warm_start();
        if polish {
            self.polish(100);
        } else {
            self.rounds(1, None);
        }
    }

    /// The steps of `plan` up to the neighbourhood re-solves, for the tests of the moves after
    /// them: rounds and ejection passes, the Lagrangian search with its priced recoveries,
    /// reassignment sweeps, upgrade chains and neighbourhood re-solves. Returns the Lagrangian's
    /// prices and sub-problems.
    pub(crate) fn through_neighbourhoods(&mut self) -> Option<Lagrangian> {
        self.warm_start();
        self.polish(1000);
        let dual = crate::bound::lagrangian(self, 30, 10, 1000, 1, false);
        self.settle(1000);
        self.reassign_sweeps(4, 1000, true);
        self.upgrade_chains(2, 4000, 4);
        self.neighbourhoods(500, 200_000);
        dual.map(|d| d.into_parts())
    }
}

/// Whether car `c`, starting at `start`, has a blocked window still ahead of it: such a car is a
/// commodity alone (a single car), the others are pooled by model.
pub(crate) fn window_ahead(p: &Problem, c: usize, start: Start) -> bool {
    p.cars[c].blocked.iter().any(|&(_, b1)| b1 > start.ready)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::model::{Instance, Order, Vehicle};
    use crate::{generate, problem};

    pub(crate) fn at(hour: i64) -> String {
        format!("2026-12-01T{hour:02}:00:00+08:00")
    }

    /// One station; an `S` or `M` order may be served by an `L` car as an upgrade.
    pub(crate) fn instance(cars: &[(&str, &str)], orders: &[(&str, &str, i64, i64)]) -> Instance {
        let row: BTreeMap<String, i64> = [("A".to_string(), 0)].into_iter().collect();
        Instance {
            horizon_start: at(0),
            horizon_end: at(23),
            turnaround_minutes: 30,
            stations: vec!["A".into()],
            travel_minutes: [("A".to_string(), row)].into_iter().collect(),
            upgrades: [
                ("S", vec!["L".to_string()]),
                ("M", vec!["L".to_string()]),
                ("L", vec![]),
            ]
            .into_iter()
            .map(|(m, u)| (m.to_string(), u))
            .collect(),
            vehicles: cars
                .iter()
                .map(|&(id, model)| Vehicle {
                    id: id.into(),
                    model: model.into(),
                    station: "A".into(),
                    available_from: at(0),
                    blocked: vec![],
                })
                .collect(),
            orders: orders
                .iter()
                .map(|&(id, model, from, to)| Order {
                    id: id.into(),
                    model: model.into(),
                    pickup_station: "A".into(),
                    pickup_at: at(from),
                    return_station: "A".into(),
                    return_at: at(to),
                })
                .collect(),
            ..Instance::default()
        }
    }

    /// The `L` car serves the `S` order `O1` (an upgrade) and the `M` order `O2` (only an `L`
    /// car may serve it) is unserved; the two `S` cars each serve an order that clashes with
    /// `O1`. Re-solving one commodity over its free and own orders changes nothing (the `L`
    /// car may take one of `O1`, `O2`, both upgrades; the `S` cars have no free order), nor
    /// does an ejection chain (`O2` into the `L` car ejects `O1`, which fits into no `S` car
    /// as they are). A reassignment does: the `S` cars take `O1`, putting `O3` and `O4` on one
    /// car, and the gap lets the `L` car serve `O2`: one order more.
    #[test]
    fn a_reassignment_exchanges_orders_between_commodities() {
        let inst = instance(
            &[("V1", "L"), ("V2", "S"), ("V3", "S")],
            &[
                ("O1", "S", 9, 12),
                ("O2", "M", 9, 11),
                ("O3", "S", 8, 10),
                ("O4", "S", 11, 13),
            ],
        );
        let p = problem::build(&inst).unwrap();
        let mut s = Search::new(&p);
        s.set_chain(0, vec![0]);
        s.set_chain(1, vec![2]);
        s.set_chain(2, vec![3]);
        s.rounds(8, None);
        s.settle(100);
        assert_eq!(
            s.objective().0,
            3,
            "block-coordinate rounds and ejection chains stay at 3"
        );
        s.reassign_sweeps(4, 100, true);
        assert_eq!(s.chains[0], vec![1]);
        assert_eq!((s.objective().0, s.objective().1), (4, -1));
        for c in 0..3 {
            assert!(s.feasible(c, &s.chains[c]));
        }
    }

    /// An order served by upgrade while a car of its own model could take it: moved there.
    #[test]
    fn a_needless_upgrade_is_undone() {
        let inst = instance(&[("V1", "L"), ("V2", "S")], &[("O1", "S", 8, 12)]);
        let p = problem::build(&inst).unwrap();
        let mut s = Search::new(&p);
        s.set_chain(0, vec![0]);
        s.reassign_sweeps(4, 100, true);
        assert_eq!(s.chains, vec![vec![], vec![0]]);
        assert_eq!(s.objective(), (1, 0, 0, 0));
    }

    /// The `L` car serves the `S` order `O1` by upgrade, the `S` car the `XS` order `O2` by
    /// upgrade, and the two clash. Neither block-coordinate rounds nor reassignment sweeps
    /// exchange them (the `S` car would have to give up `O2`, which fits no other car directly
    /// while `O1` is on the `L` car), an upgrade chain does: `O1` into the `S` car, ejecting
    /// `O2`, which goes into the gap `O1` left. One upgrade fewer, as many orders.
    #[test]
    fn an_upgrade_chain_moves_an_order_to_its_own_model_through_another_car() {
        let mut inst = instance(&[("V1", "L"), ("V2", "S")], &[("O1", "S", 9, 12), ("O2", "XS", 9, 12)]);
        inst.upgrades
            .insert("XS".to_string(), vec!["S".to_string(), "L".to_string()]);
        let p = problem::build(&inst).unwrap();
        let mut s = Search::new(&p);
        s.set_chain(0, vec![0]);
        s.set_chain(1, vec![1]);
        s.rounds(8, None);
        s.settle(100);
        s.reassign_sweeps(4, 100, true);
        assert_eq!(s.objective().1, -2, "rounds and sweeps leave both upgrades");
        assert_eq!(s.upgrade_chains(2, 100, 4), 1);
        assert_eq!(s.chains, vec![vec![1], vec![0]]);
        assert_eq!((s.objective().0, s.objective().1), (2, -1));
        // Nothing is left to gain: a second call keeps nothing and changes nothing.
        assert_eq!(s.upgrade_chains(2, 100, 4), 0);
        assert_eq!(s.chains, vec![vec![1], vec![0]]);
    }

    /// Two levels: the `S` order `O1` on the `L` car may go into the `S` car `V2` only in place
    /// of its `XS` order `O2`, which fits the `M` car `V3` (an `L` car serves no `XS` order)
    /// only in place of its `XXS` order `O3`, which then fits the gap `O1` left on the `L` car.
    /// One level finds nothing.
    #[test]
    fn an_upgrade_chain_may_push_an_order_on_twice() {
        let mut inst = instance(
            &[("V1", "L"), ("V2", "S"), ("V3", "M")],
            &[("O1", "S", 9, 12), ("O2", "XS", 9, 12), ("O3", "XXS", 9, 12)],
        );
        inst.upgrades
            .insert("XS".to_string(), vec!["S".to_string(), "M".to_string()]);
        inst.upgrades
            .insert("XXS".to_string(), vec!["M".to_string(), "L".to_string()]);
        let p = problem::build(&inst).unwrap();
        let start = |s: &mut Search| {
            s.set_chain(0, vec![0]);
            s.set_chain(1, vec![1]);
            s.set_chain(2, vec![2]);
        };
        let mut s = Search::new(&p);
        start(&mut s);
        assert_eq!(s.objective().1, -3);
        assert_eq!(s.upgrade_chains(1, 100, 4), 0, "one level cannot do it");
        assert_eq!(s.objective().1, -3);
        assert_eq!(s.upgrade_chains(2, 100, 4), 1);
        assert_eq!((s.objective().0, s.objective().1), (3, -2));
        assert_eq!(s.chains, vec![vec![2], vec![0], vec![1]]);
        for c in 0..3 {
            assert!(s.feasible(c, &s.chains[c]));
        }
    }

    /// Taking an order off a car may break the rest of its chain: the `L` car `V1` serves the
    /// `S` order `O1` by upgrade (picked up where it stands, returned at `A`) and then the `L`
    /// order `O2` at `A`; without `O1` it would leave for `O2` from `B`, two hours earlier,
    /// into its blocked window. Moving `O1` to the free `S` car `V2` saves the upgrade but
    /// loses `O2`, so no upgrade chain is kept and every chain stays feasible.
    #[test]
    fn an_upgrade_chain_never_breaks_the_chain_it_leaves() {
        let station = |a: &str, b: &str| (a.to_string(), [(a.to_string(), 0), (b.to_string(), 120)].into());
        let vehicle = |id: &str, model: &str, blocked: Vec<crate::model::Window>| Vehicle {
            id: id.into(),
            model: model.into(),
            station: "B".into(),
            available_from: at(0),
            blocked,
        };
        let order = |id: &str, model: &str, from: (&str, &str), to: (&str, &str)| Order {
            id: id.into(),
            model: model.into(),
            pickup_station: from.0.into(),
            pickup_at: from.1.into(),
            return_station: to.0.into(),
            return_at: to.1.into(),
        };
        let window = crate::model::Window {
            from: "2026-12-01T12:30:00+08:00".into(),
            to: at(13),
        };
        let mut inst = instance(&[], &[]);
        inst.stations = vec!["A".into(), "B".into()];
        inst.travel_minutes = [station("A", "B"), station("B", "A")].into_iter().collect();
        inst.vehicles = vec![vehicle("V1", "L", vec![window]), vehicle("V2", "S", vec![])];
        inst.orders = vec![
            order("O1", "S", ("B", &at(10)), ("A", &at(11))),
            order("O2", "L", ("A", &at(14)), ("A", &at(15))),
        ];
        let p = problem::build(&inst).unwrap();
        let mut s = Search::new(&p);
        s.set_chain(0, vec![0, 1]);
        assert!(s.feasible(0, &s.chains[0]));
        assert!(!s.feasible(0, &[1]), "without O1, V1 leaves for O2 inside its window");
        assert_eq!(s.upgrade_chains(2, 100, 4), 0);
        assert_eq!(s.chains, vec![vec![0, 1], vec![]]);
        assert_eq!(s.inconsistency(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// From the greedy plan (many needless upgrades), upgrade chains never serve fewer
        /// orders, never count more upgrades, leave every chain feasible with each order on at
        /// most one car, and report a kept move exactly when the upgrades fell.
        #[test]
        fn upgrade_chains_only_save_upgrades_and_stay_feasible(seed in 0u64..1_000_000, orders in 10usize..80, cars in 3usize..25) {
            let inst = generate(seed, orders, cars);
            let p = problem::build(&inst).unwrap();
            let mut s = Search::new(&p);
            s.warm_start();
            let g = crate::greedy(&inst);
            let mut chains = vec![Vec::new(); p.cars.len()];
            for a in &g.assignments {
                let j = p.jobs.iter().position(|o| o.id == a.order).unwrap();
                let c = p.cars.iter().position(|v| v.id == a.vehicle).unwrap();
                chains[c].push(j);
            }
            for (c, mut chain) in chains.into_iter().enumerate() {
                chain.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
                s.set_chain(c, chain);
            }
            let before = s.objective();
            let kept = s.upgrade_chains(2, 200, 4);
            let after = s.objective();
            prop_assert!(after.0 >= before.0);
            prop_assert!((after.0, after.1) >= (before.0, before.1));
            prop_assert_eq!(kept > 0, (after.0, after.1) > (before.0, before.1));
            prop_assert_eq!(s.inconsistency(), None);
        }

        /// Block-coordinate rounds mark a commodity dirty only when another frees an order it
        /// could serve: when they stop, re-solving any commodity finds nothing strictly better
        /// (an order taken by another was never needed to be re-solved for).
        #[test]
        fn rounds_stop_at_a_fixed_point(seed in 0u64..1_000_000, orders in 10usize..70, cars in 3usize..20) {
            let inst = generate(seed, orders, cars);
            let p = problem::build(&inst).unwrap();
            let mut s = Search::new(&p);
            s.warm_start();
            // From the greedy plan (upgrades where exact cars could serve, and the like), so
            // that re-solves free orders and the dirty marks matter.
            let g = crate::greedy(&inst);
            let mut chains = vec![Vec::new(); p.cars.len()];
            for a in &g.assignments {
                let j = p.jobs.iter().position(|o| o.id == a.order).unwrap();
                let c = p.cars.iter().position(|v| v.id == a.vehicle).unwrap();
                chains[c].push(j);
            }
            for (c, mut chain) in chains.into_iter().enumerate() {
                chain.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
                prop_assert!(s.feasible(c, &chain));
                s.set_chain(c, chain);
            }
            s.rounds(1000, None);
            let before = s.chains.clone();
            for k in 0..s.commodities.len() {
                prop_assert!(s.resolve(k).is_empty(), "commodity {k} changed its orders");
            }
            prop_assert_eq!(&s.chains, &before);
        }

        /// The ejection trial's neighbour check answers exactly what checking the whole new
        /// chain from the car's start does, on every car, insertion window and order.
        #[test]
        fn the_neighbour_check_equals_the_whole_chain_check(seed in 0u64..1_000_000, orders in 10usize..60, cars in 3usize..15) {
            let p = problem::build(&generate(seed, orders, cars)).unwrap();
            let mut s = Search::new(&p);
            s.warm_start();
            s.polish(100);
            for c in 0..p.cars.len() {
                let chain = s.chains[c].clone();
                for u in 0..p.jobs.len() {
                    if chain.contains(&u) {
                        continue;
                    }
                    for a in 0..=chain.len() {
                        for b in a..=chain.len() {
                            let mut next: Vec<usize> = chain[..a].to_vec();
                            next.push(u);
                            next.extend_from_slice(&chain[b..]);
                            prop_assert_eq!(s.fits_between(c, &chain, a, b, u), s.feasible(c, &next));
                        }
                    }
                }
            }
        }

        /// On city-like instances, reassignment sweeps never make the lexicographic objective
        /// worse, never serve fewer orders, and leave every chain feasible with each order on
        /// at most one car.
        #[test]
        fn reassignment_only_improves_and_stays_feasible(seed in 0u64..1_000_000, orders in 10usize..80, cars in 3usize..25) {
            let p = problem::build(&generate(seed, orders, cars)).unwrap();
            let mut s = Search::new(&p);
            s.warm_start();
            s.polish(100);
            let before = s.objective();
            s.reassign_sweeps(4, 100, true);
            let after = s.objective();
            prop_assert!(after >= before, "{after:?} < {before:?}");
            prop_assert!(after.0 >= before.0);
            prop_assert_eq!(s.inconsistency(), None);
        }
    }
}
