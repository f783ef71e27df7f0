//! The planner's search: frozen prefixes, commodities, block-coordinate exact re-solves, and
//! ejection-chain moves across commodities. Bounds and the exact search live in `bound` and
//! `exact`; this module produces the best plan it can and says which orders it serves.

use crate::commodity::{self, Ctx, Start};
use crate::problem::{Problem, Serves};

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
            let blocked = p.cars[c].blocked.iter().any(|&(_, b1)| b1 > start[c].ready);
            if blocked {
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
            cars_for_model: (0..nm)
                .map(|m| {
                    (0..nc)
                        .filter(|&c| p.serves(p.cars[c].model, m) != Serves::No)
                        .collect()
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

    fn set_chain(&mut self, c: usize, chain: Vec<usize>) {
        for &j in &self.chains[c] {
            if self.car_of[j] == Some(c) {
                self.car_of[j] = None;
            }
        }
        let p = self.p;
        self.usage[c] = chain.iter().map(|&j| p.jobs[j].return_at - p.jobs[j].pickup_at).sum();
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
        let old: Vec<Vec<usize>> = cars.iter().map(|&c| self.chains[c].clone()).collect();
        if self.score(&cars, &chains) <= self.score(&cars, &old) {
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
        let p = self.p;
        let (mut served, mut upgrades, mut reloc, mut links) = (0usize, 0i64, 0i64, 0usize);
        for (&c, chain) in cars.iter().zip(chains) {
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
    /// an order it could serve was freed or taken by another.
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
                let mut models = vec![false; self.p.models.len()];
                for j in changed {
                    models[self.p.jobs[j].model] = true;
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
    pub fn objective(&self) -> (usize, i64, i64, usize) {
        let mut total = (self.fixed.iter().filter(|f| f.is_some()).count(), 0, 0, 0);
        for cars in &self.commodities {
            let chains: Vec<Vec<usize>> = cars.iter().map(|&c| self.chains[c].clone()).collect();
            let sc = self.score(cars, &chains);
            total = (total.0 + sc.0, total.1 + sc.1, total.2 + sc.2, total.3 + sc.3);
        }
        total
    }

    /// Rebuilds the plan commodity by commodity (most specialised first), each taking free
    /// orders by their Lagrangian worth `scale - price` (so contested orders are left to those
    /// that need them most), then polishes it; keeps it only when better than the current plan.
    pub fn recover_priced(&mut self, price: &[i64], scale: i64, budget: usize) -> bool {
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
        if self.objective() > before {
            true
        } else {
            for (c, chain) in snapshot.into_iter().enumerate() {
                self.set_chain(c, chain);
            }
            false
        }
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
        let p = self.p;
        if p.serves(p.cars[c].model, p.jobs[u].model) == Serves::No {
            return None;
        }
        let pu = p.jobs[u].pickup_at;
        let pos = chain.partition_point(|&j| p.jobs[j].pickup_at <= pu);
        let s = if pos == 0 {
            self.start[c]
        } else {
            let q = chain[pos - 1];
            Start {
                station: p.jobs[q].return_station,
                ready: p.ready_after(q),
            }
        };
        p.leave_time(c, s.station, s.ready, u)?;
        if let Some(&n) = chain.get(pos) {
            p.leave_time(c, p.jobs[u].return_station, p.ready_after(u), n)?;
        }
        Some(pos)
    }

    /// Cars that may serve order `j`'s model, by index.
    fn candidates(&self, j: usize) -> &[usize] {
        &self.cars_for_model[self.p.jobs[j].model]
    }

    fn insert_at(&mut self, c: usize, u: usize, pos: usize) {
        let mut chain = self.chains[c].clone();
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
        let p = self.p;
        let cands: Vec<usize> = self.candidates(u).to_vec();
        for &c in &cands {
            if journal.iter().any(|(d, _)| *d == c) {
                continue;
            }
            let chain = self.chains[c].clone();
            let pu = p.jobs[u].pickup_at;
            let pos = chain.partition_point(|&j| p.jobs[j].pickup_at <= pu);
            // Remove one or two consecutive orders next to the insertion point.
            for (a, b) in [
                (pos.wrapping_sub(1), pos),
                (pos, pos + 1),
                (pos.wrapping_sub(1), pos + 1),
                (pos.wrapping_sub(2), pos),
                (pos, pos + 2),
            ] {
                if !(a < b && b <= chain.len()) {
                    continue;
                }
                if *budget == 0 {
                    return false;
                }
                *budget -= 1;
                let mut next: Vec<usize> = chain[..a].to_vec();
                next.push(u);
                next.extend_from_slice(&chain[b..]);
                if !self.feasible(c, &next) {
                    continue;
                }
                let ejected: Vec<usize> = chain[a..b].to_vec();
                let mark = journal.len();
                journal.push((c, chain.clone()));
                self.set_chain(c, next);
                let mut ok = true;
                for &e in &ejected {
                    if !self.augment(e, depth - 1, journal, budget) {
                        ok = false;
                        break;
                    }
                }
                if ok {
                    return true;
                }
                self.rollback(journal, mark);
            }
        }
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
