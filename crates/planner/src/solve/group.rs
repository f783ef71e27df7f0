//! Group re-solves (`Search::group_resolves`): one pooled commodity and the single cars that
//! may serve its model are re-planned together, everything else staying as it is, by a
//! Lagrangian relaxation of the orders they share: the single cars' chains are fixed from the
//! relaxation, and the pool, which owns most of the orders, is solved exactly over the rest.

use std::cmp::Reverse;

use super::Search;
use crate::bound::Q;
use crate::commodity::{self, Sub};
use crate::problem::Serves;

/// What the whole plan's Lagrangian search leaves for the group re-solves: its best prices, and
/// per commodity its candidate orders and warm sub-problem (`bound::Dual::into_parts`).
pub struct Lagrangian {
    pub price: Vec<i64>,
    pub cands: Vec<Vec<usize>>,
    pub subs: Vec<Sub>,
}

/// What an upgrade costs inside the group's relaxation: 1/1024 of an order, so that any number
/// of upgrades a group can have stays below one order (fulfilment first) while the relaxation
/// still prefers exact cars (the second objective).
const UPGRADE: i64 = Q >> 10;

/// Share of the previous subgradient direction kept in the next (as in `bound::lagrangian`).
const DEFLECT: f64 = 0.3;

/// The first step's scale (Polyak's rule): half the textbook step, as the prices start from the
/// whole plan's Lagrangian, near where the group's own would be (on gen:800:240:14 the same
/// recovery is found with 1, 0.5 and 0.25).
const THETA: f64 = 0.5;

/// Iterations without a lower Lagrangian value after which the step is halved.
const STALL: usize = 5;

/// One group: its commodities (the pool first, then the single cars) and the orders open to
/// them (plannable, and free or on one of their cars).
struct Group {
    members: Vec<usize>,
    open: Vec<bool>,
}

/// A commodity's Lagrangian sub-problem over every plannable order its model may serve; a
/// group forbids the orders outside it by their weight, so a single car's network is built
/// once for all the groups it is in.
struct Member {
    cands: Vec<usize>,
    /// Per candidate, whether the commodity serves it by upgrade.
    upgrade: Vec<bool>,
    sub: Sub,
}

impl Member {
    /// Builds the sub-problem of commodity `k` (solved once, every order forbidden).
    fn new(s: &Search, k: usize) -> Self {
        let p = s.p;
        let cars = &s.commodities[k];
        // Commodities are never empty (built from at least one car each).
        let cm = p.cars[cars[0]].model;
        let cands: Vec<usize> = (0..p.jobs.len())
            .filter(|&j| s.fixed[j].is_none() && p.serves(cm, p.jobs[j].model) != Serves::No)
            .collect();
        let sub = commodity::max_weight(&s.ctx(), cars, &cands, &vec![-Q; cands.len()]);
        Self::from_sub(s, k, cands, sub)
    }

    /// Commodity `k`'s sub-problem over `cands` as the whole plan's Lagrangian search left it
    /// (warm: its basis is that of the last prices).
    fn from_sub(s: &Search, k: usize, cands: Vec<usize>, sub: Sub) -> Self {
        let p = s.p;
        let cm = s
            .commodities
            .get(k)
            .and_then(|c| c.first())
            .map_or(0, |&c| p.cars[c].model);
        let upgrade = cands
            .iter()
            .map(|&j| p.serves(cm, p.jobs[j].model) == Serves::Upgrade)
            .collect();
        Member { cands, upgrade, sub }
    }

    /// Each candidate's worth at `price`: one order less its price and, when served by
    /// upgrade, [`UPGRADE`] (never below 0); orders outside the group or `taken` are forbidden.
    fn weights(&self, price: &[i64], open: &[bool], taken: Option<&[bool]>) -> Vec<i64> {
        self.cands
            .iter()
            .zip(&self.upgrade)
            .map(|(&j, &up)| {
                if !open[j] || taken.is_some_and(|t| t[j]) {
                    -Q
                } else {
                    (Q - price[j] - if up { UPGRADE } else { 0 }).max(0)
                }
            })
            .collect()
    }

    /// The orders the last solve served with a positive weight, in pickup order.
    fn chosen(&self, s: &Search, weight: &[i64]) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .cands
            .iter()
            .enumerate()
            .filter(|&(x, _)| self.sub.served[x] && weight[x] > 0)
            .map(|(_, &j)| j)
            .collect();
        out.sort_by_key(|&j| (s.p.jobs[j].pickup_at, j));
        out
    }
}

/// A recovered assignment of the group: per member its cars' chains, and its (served,
/// upgrades).
struct Recovered {
    chains: Vec<Vec<Vec<usize>>>,
    served: usize,
    upgrades: usize,
}

impl Search<'_> {
    /// Group re-solves: for every pooled commodity, the pool and the single cars that may serve
    /// its model (cars with a blocked window, each a commodity of its own) are
    /// re-planned together over the orders that are free or theirs, the rest of the plan fixed.
    /// The constraint "each order once" among them is priced (a Lagrangian relaxation of the
    /// group, upgrades costing 1/1024 of an order), starting from `dual`'s prices (the whole
    /// plan's Lagrangian search; its sub-problems are reused, warm) and taking `iterations`
    /// subgradient steps; every `recover_every` iterations a plan is recovered: the single cars
    /// keep their chains at the current prices, one after the other (what the relaxation is
    /// sure of), and the pool is solved exactly over what is left. The best recovery that
    /// serves more orders, or as many with fewer upgrades, replaces the group's plan. This
    /// reaches exchanges in which single cars give up orders to the pool and take others while
    /// the pool reroutes many of its cars at once to take a free order — out of reach of moves
    /// that change a few cars (neighbourhoods, ejection chains), and of the sweeps, which price
    /// an order taken from another commodity only by one direct refill of its gap. Without
    /// `dual`, sub-problems are built here and prices start at ½. `work` bounds the candidate
    /// orders solved over, summed over all solves; returns the groups whose re-solve was kept.
    pub fn group_resolves(
        &mut self,
        dual: Option<Lagrangian>,
        iterations: usize,
        recover_every: usize,
        work: &mut usize,
    ) -> usize {
        let nk = self.commodities.len();
        let (start, mut all) = match dual {
            Some(d) if d.subs.len() == nk && d.cands.len() == nk => {
                let members = d
                    .cands
                    .into_iter()
                    .zip(d.subs)
                    .enumerate()
                    .map(|(k, (cands, sub))| Some(Member::from_sub(self, k, cands, sub)))
                    .collect();
                (Some(d.price), members)
            }
            _ => (None, (0..nk).map(|_| None).collect::<Vec<Option<Member>>>()),
        };
        let mut kept = 0;
        for k in 0..nk {
            if self.commodities[k].len() < 2 || *work == 0 {
                continue;
            }
            let Some(g) = self.group(k) else {
                continue;
            };
            let mut members: Vec<Member> = Vec::with_capacity(g.members.len());
            for &m in &g.members {
                let member = match all[m].take() {
                    Some(x) => x,
                    None => {
                        let x = Member::new(self, m);
                        *work = work.saturating_sub(x.cands.len());
                        x
                    }
                };
                members.push(member);
            }
            let res = self.group_search(&g, &mut members, start.as_deref(), iterations, recover_every, work);
            for (x, &m) in members.into_iter().zip(&g.members) {
                all[m] = Some(x);
            }
            if let Some(best) = res {
                self.group_apply(&g, best);
                kept += 1;
            }
        }
        if kept > 0 {
            self.fit_cache.iter_mut().for_each(|x| *x = None);
        }
        kept
    }

    /// The group of pool `k`: the pool, then every single car that may serve the pool's own
    /// model (the cars it can exchange its orders with; widening this to every single car
    /// sharing any order model with the pool found nothing more and cost 1.6 times as much on
    /// city-3days), and the orders open to them (plannable, free or on their cars). `None` when
    /// there is no such single car.
    fn group(&self, k: usize) -> Option<Group> {
        let p = self.p;
        let model_of = |k: usize| p.cars[self.commodities[k][0]].model;
        let pm = model_of(k);
        // Single cars that may take the pool's own orders (its model, or an upgrade of it).
        let shares = |m: usize| p.serves(m, pm) != Serves::No;
        let mut members = vec![k];
        members
            .extend((0..self.commodities.len()).filter(|&k2| self.commodities[k2].len() == 1 && shares(model_of(k2))));
        if members.len() < 2 {
            return None;
        }
        let mut open: Vec<bool> = (0..p.jobs.len())
            .map(|j| self.fixed[j].is_none() && self.car_of[j].is_none())
            .collect();
        for &m in &members {
            for &c in &self.commodities[m] {
                for &j in &self.chains[c] {
                    open[j] = true;
                }
            }
        }
        Some(Group { members, open })
    }

    /// The Lagrangian search over the group (`members` in the group's order, the pool first);
    /// the best recovery strictly better than the group's current plan, if any.
    fn group_search(
        &self,
        g: &Group,
        members: &mut [Member],
        start: Option<&[i64]>,
        iterations: usize,
        recover_every: usize,
        work: &mut usize,
    ) -> Option<Recovered> {
        let p = self.p;
        let nj = p.jobs.len();
        let mut reach = vec![0u32; nj];
        for m in members.iter() {
            for &j in &m.cands {
                reach[j] += u32::from(g.open[j]);
            }
        }
        let mut price: Vec<i64> = reach
            .iter()
            .enumerate()
            .map(|(j, &r)| {
                if r > 1 {
                    start.and_then(|x| x.get(j).copied()).unwrap_or(Q / 2).clamp(0, Q)
                } else {
                    0
                }
            })
            .collect();
        let size: usize = members.iter().map(|m| m.cands.len()).sum();
        *work = work.saturating_sub(members[0].cands.len());
        let (cur_served, cur_upgrades) = self.served_and_upgrades(&g.members);
        let mut best: Option<Recovered> = None;
        let mut best_key = (cur_served, Reverse(cur_upgrades));
        let mut best_value = f64::INFINITY;
        let mut scale = crate::bound::StepScale::new(THETA, STALL);
        let mut dir = vec![0.0f64; nj];
        for it in 0..iterations {
            if *work == 0 {
                break;
            }
            // L = Σ λ + Σ V_k, and how many members want each order.
            let mut wanted = vec![0u32; nj];
            let mut value: i128 = price.iter().map(|&x| i128::from(x)).sum();
            for m in members.iter_mut() {
                let w = m.weights(&price, &g.open, None);
                m.sub.solve(&w);
                for (x, &j) in m.cands.iter().enumerate() {
                    if m.sub.served[x] && w[x] > 0 {
                        wanted[j] += 1;
                        value += i128::from(w[x]);
                    }
                }
            }
            *work = work.saturating_sub(size);
            let value = value as f64 / Q as f64;
            let improved = value < best_value - 1e-9;
            if improved {
                best_value = value;
            }
            scale.note(improved);
            if recover_every > 0 && (it + 1) % recover_every == 0 {
                *work = work.saturating_sub(members[0].cands.len());
                if let Some(r) = self.group_recover(g, members, &price, best_key) {
                    best_key = (r.served, Reverse(r.upgrades));
                    best = Some(r);
                }
            }
            // A deflected, projected subgradient step (Polyak's rule towards the best count).
            let norm = crate::bound::deflected_step(&mut dir, &price, &wanted, |j| reach[j] > 1, DEFLECT);
            if norm == 0.0 {
                break;
            }
            let gap = value - best_key.0 as f64;
            let step = scale.theta * gap.max(0.05) / norm;
            for j in 0..nj {
                if reach[j] > 1 {
                    let next = price[j] as f64 - step * dir[j] * Q as f64;
                    price[j] = (next.round() as i64).clamp(0, Q);
                }
            }
        }
        best
    }

    /// A plan of the group at `price`, when it beats `best` (served, fewer upgrades): each single
    /// car in turn keeps its sub-problem's chain at these prices (what the relaxation is sure
    /// of), solved again without the orders an earlier one took when it wanted one of them;
    /// then the pool is solved exactly over the rest — first its count and upgrades only,
    /// warm-started, and only when that beats `best` for its chains.
    fn group_recover(
        &self,
        g: &Group,
        members: &mut [Member],
        price: &[i64],
        best: (usize, Reverse<usize>),
    ) -> Option<Recovered> {
        let p = self.p;
        let mut taken = vec![false; p.jobs.len()];
        let mut chains: Vec<Vec<Vec<usize>>> = vec![Vec::new(); g.members.len()];
        let (mut served, mut upgrades) = (0, 0);
        for i in 1..g.members.len() {
            let c = self.commodities[g.members[i]][0];
            let m = &mut members[i];
            let mut w = m.weights(price, &g.open, None);
            let mut chain = m.chosen(self, &w);
            if chain.iter().any(|&j| taken[j]) {
                w = m.weights(price, &g.open, Some(&taken));
                m.sub.solve(&w);
                chain = m.chosen(self, &w);
            }
            let chain = self.verified(c, &chain);
            for &j in &chain {
                taken[j] = true;
                served += 1;
                upgrades += usize::from(p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Upgrade);
            }
            chains[i] = vec![chain];
        }
        // The pool's sub-problem, warm-started from its priced solve: every order worth one
        // order less its upgrade, those the single cars took forbidden.
        let (pool, _) = members.split_first_mut()?;
        let w = pool.weights(&vec![0; p.jobs.len()], &g.open, Some(&taken));
        pool.sub.solve(&w);
        for (x, &up) in pool.upgrade.iter().enumerate() {
            if pool.sub.served[x] && w[x] > 0 {
                served += 1;
                upgrades += usize::from(up);
            }
        }
        if (served, Reverse(upgrades)) <= best {
            return None;
        }
        let cars = &self.commodities[g.members[0]];
        let jobs: Vec<usize> = pool.cands.iter().copied().filter(|&j| g.open[j] && !taken[j]).collect();
        let mut usage = self.usage.clone();
        for &m in &g.members {
            for &c in &self.commodities[m] {
                usage[c] = 0;
            }
        }
        chains[0] = commodity::solve(&self.ctx(), cars, &jobs, &mut usage);
        let (mut served, mut upgrades) = (0, 0);
        for (i, &m) in g.members.iter().enumerate() {
            for (ci, chain) in chains[i].iter().enumerate() {
                let c = self.commodities[m].get(ci).copied()?;
                if !self.feasible(c, chain) {
                    return None;
                }
                served += chain.len();
                upgrades += chain
                    .iter()
                    .filter(|&&j| p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Upgrade)
                    .count();
            }
        }
        ((served, Reverse(upgrades)) > best).then_some(Recovered {
            chains,
            served,
            upgrades,
        })
    }

    /// Carries out a recovery: every car of the group takes its new chain (orders move only
    /// among the group's cars or become free).
    fn group_apply(&mut self, g: &Group, r: Recovered) {
        for &m in &g.members {
            let cars = self.commodities[m].clone();
            for &c in &cars {
                self.set_chain(c, Vec::new());
            }
            if let Some(r) = self.reassigned.get_mut(m) {
                *r = true;
            }
        }
        for (i, chains) in r.chains.into_iter().enumerate() {
            let cars = self.commodities[g.members[i]].clone();
            for (c, chain) in cars.into_iter().zip(chains) {
                self.set_chain(c, chain);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{bound, generate, problem};

    /// The steps that run before the group re-solves in `plan`; the Lagrangian's prices and
    /// sub-problems.
    fn before_groups(s: &mut Search) -> Option<Lagrangian> {
        s.through_neighbourhoods()
    }

    /// Thirty orders, nine cars (`generate(365, 30, 9)`): every move before the group
    /// re-solves stops at 14 orders; re-planning a pool together with the single cars that share
    /// its orders serves 15, the family relaxation's bound (so the optimum).
    #[test]
    fn a_group_re_solve_serves_one_more_order() {
        let p = problem::build(&generate(365, 30, 9)).unwrap();
        let mut s = Search::new(&p);
        let dual = before_groups(&mut s);
        assert!(dual.is_some(), "the bound is not met: the Lagrangian search runs");
        assert_eq!(s.objective().0, 14, "the other moves stay at 14");
        let mut work = 1_000_000;
        assert!(s.group_resolves(dual, 3, 3, &mut work) > 0);
        assert_eq!(s.objective().0, 15);
        let jobs: Vec<usize> = (0..p.jobs.len()).collect();
        let best = crate::exact::solve(&p, &s.start, &jobs, &s.prev_car, 50_000_000).unwrap();
        assert_eq!(best.iter().filter(|a| a.is_some()).count(), 15, "15 is the optimum");
        assert_eq!(s.inconsistency(), None);
    }

    /// With no work to spend nothing is searched and nothing changes.
    #[test]
    fn no_work_no_change() {
        let p = problem::build(&generate(365, 30, 9)).unwrap();
        let mut s = Search::new(&p);
        let dual = before_groups(&mut s);
        let chains = s.chains.clone();
        let mut work = 0;
        assert_eq!(s.group_resolves(dual, 3, 3, &mut work), 0);
        let mut work = 1_000_000;
        assert_eq!(s.group_resolves(None, 0, 3, &mut work), 0);
        assert_eq!(s.chains, chains);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// On city-like instances (with single cars, from the Lagrangian's prices or, without
        /// them, from cold sub-problems), group re-solves never serve fewer orders, never count
        /// more upgrades at equal fulfilment, report a kept move exactly when (served, upgrades)
        /// improved, and leave every chain feasible with each order on at most one car.
        #[test]
        fn group_re_solves_only_improve_and_stay_feasible(seed in 0u64..1_000_000, orders in 10usize..80, cars in 3usize..25, warm in any::<bool>()) {
            let p = problem::build(&generate(seed, orders, cars)).unwrap();
            let mut s = Search::new(&p);
            s.warm_start();
            s.polish(100);
            let dual = if warm { bound::lagrangian(&mut s, 10, 0, 100, 0, false).map(|d| d.into_parts()) } else { None };
            let before = s.objective();
            let mut work = 1_000_000;
            let kept = s.group_resolves(dual, 6, 2, &mut work);
            let after = s.objective();
            prop_assert!(after.0 >= before.0);
            prop_assert!((after.0, after.1) >= (before.0, before.1));
            prop_assert_eq!(kept > 0, (after.0, after.1) > (before.0, before.1));
            prop_assert_eq!(s.inconsistency(), None);
        }
    }
}
