//! Family LPs (`Search::family_lps`): the pooled commodities of one family of models (connected
//! by sharing orders they may serve) re-planned together, everything else fixed, by one
//! mixed-integer program over their time-space networks with a row "each order at most once"
//! per order: their integer multi-commodity flow, solved as its LP relaxation (an integral
//! solution is the family's exact optimum) and a few branch-and-bound nodes.

use std::cmp::Reverse;

use super::Search;
use crate::commodity;
use crate::problem::Serves;

/// Branch-and-bound nodes of one family's MIP at most, beyond its LP (`microlp`; a count, so
/// plans stay reproducible). The LP was integral on most families measured; where it was not,
/// 50 nodes found gen:550:165:108's missing order; 500 found gen:250:75:102's two upgrades too,
/// but at four times its plan time (RESULTS.md).
const NODES: u64 = 50;

impl Search<'_> {
    /// Family LPs: for every family of pooled commodities (two pools are in one family when some
    /// order model may be served by both) with at most `max_orders` orders open to it
    /// (plannable, and free or on its cars), the pools are re-planned together by one
    /// mixed-integer program (its LP, then at most [`NODES`] branch-and-bound nodes), the
    /// single cars (cars with a blocked window) and everything else fixed: per pool its
    /// time-space network (per station a node at each moment a car arrives there — a start, or
    /// a return plus turnaround —, a departure arc per order and station hanging on the last
    /// arrival no later than `pickup − travel`, waiting arcs between the nodes), one row "each
    /// order at most once" per order two arcs may serve, weights one order ≫ one upgrade. The
    /// solution is rounded (each order to the pool carrying more than half of it; on every
    /// family measured but a few it was integral, i.e. the family's exact optimum), each pool
    /// solved exactly over its share, every chain verified, and the result kept when the family
    /// serves more orders, or as many with fewer upgrades. Where the program's bound is no
    /// better than the current plan (about half the families measured), nothing can be gained
    /// and the pools are not re-solved. This re-solves all the pools of a
    /// family at once, which the pair exchanges (two pools, one order at a time priced) and
    /// the group re-solves (one pool, a Lagrangian relaxation) do not. Returns how many
    /// families changed.
    pub fn family_lps(&mut self, max_orders: usize) -> usize {
        let p = self.p;
        let nk = self.commodities.len();
        let is_pool = |k: usize| {
            let cars = &self.commodities[k];
            cars.len() > 1 || cars.iter().all(|&c| p.cars[c].blocked.is_empty())
        };
        let pools: Vec<usize> = (0..nk).filter(|&k| is_pool(k)).collect();
        let models: Vec<usize> = self.commodities.iter().map(|cars| p.cars[cars[0]].model).collect();
        let model_of = |k: usize| models[k];
        // Families: pools joined when they may serve a common order model.
        let nm = p.models.len();
        let mut family: Vec<usize> = (0..pools.len()).collect();
        fn find(f: &mut [usize], mut x: usize) -> usize {
            while f[x] != x {
                f[x] = f[f[x]];
                x = f[x];
            }
            x
        }
        for a in 0..pools.len() {
            for b in a + 1..pools.len() {
                let (ma, mb) = (model_of(pools[a]), model_of(pools[b]));
                if (0..nm).any(|o| p.serves(ma, o) != Serves::No && p.serves(mb, o) != Serves::No) {
                    let (ra, rb) = (find(&mut family, a), find(&mut family, b));
                    family[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        let mut kept = 0;
        for root in 0..pools.len() {
            let members: Vec<usize> = (0..pools.len())
                .filter(|&i| find(&mut family, i) == root)
                .map(|i| pools[i])
                .collect();
            if members.len() < 2 {
                continue;
            }
            let open: Vec<bool> = (0..p.jobs.len())
                .map(|j| {
                    self.fixed[j].is_none()
                        && match self.car_of[j] {
                            None => members
                                .iter()
                                .any(|&k| p.serves(model_of(k), p.jobs[j].model) != Serves::No),
                            Some(c) => members.contains(&self.commodity_of[c]),
                        }
                })
                .collect();
            if open.iter().filter(|&&x| x).count() > max_orders {
                continue;
            }
            // The LP solver is third-party code: should it ever panic, the family stays as it is.
            let lp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.family_lp(&members, &open)));
            let Ok(Some(shares)) = lp else {
                continue;
            };
            if self.family_apply(&members, shares) {
                kept += 1;
            }
        }
        if kept > 0 {
            self.fit_cache.iter_mut().for_each(|x| *x = None);
        }
        kept
    }

    /// The LP of the family `members` over the `open` orders; per member the orders the LP
    /// gives it (more than half of the order), or `None` when the LP fails or when its bound
    /// proves that no plan of the family beats the current one.
    fn family_lp(&self, members: &[usize], open: &[bool]) -> Option<Vec<Vec<usize>>> {
        let p = self.p;
        let ns = p.stations.len();
        let n_open = open.iter().filter(|&&x| x).count();
        let served_weight = n_open as f64 + 1.0;
        let (served, upgrades) = self.served_and_upgrades(members);
        let current = served_weight * served as f64 - upgrades as f64;
        let mut lp = microlp::Problem::new(microlp::OptimizationDirection::Maximize);
        // Per member, its serve variables: (order, variable).
        let mut parts: Vec<Vec<(usize, microlp::Variable)>> = Vec::with_capacity(members.len());
        let mut order_rows: Vec<Vec<(microlp::Variable, f64)>> = vec![Vec::new(); p.jobs.len()];
        for &k in members {
            let cars = &self.commodities[k];
            let model = p.cars[cars[0]].model;
            let cands: Vec<usize> = (0..p.jobs.len())
                .filter(|&j| open[j] && p.serves(model, p.jobs[j].model) != Serves::No)
                .collect();
            // Per station, the moments a car arrives there (a start, or a return plus
            // turnaround); a departure hangs on the last arrival no later than it (a car waiting
            // there since may take it), so the network has about one node per order.
            let mut times: Vec<Vec<i64>> = vec![Vec::new(); ns];
            for &c in cars {
                times[self.start[c].station].push(self.start[c].ready);
            }
            for &j in &cands {
                times[p.jobs[j].return_station].push(p.ready_after(j));
            }
            for t in &mut times {
                t.sort_unstable();
                t.dedup();
            }
            let mut base = vec![0usize; ns + 1];
            for a in 0..ns {
                base[a + 1] = base[a] + times[a].len();
            }
            // The arrival node at or last before `t` at station `a`.
            let node = |a: usize, t: i64| {
                let i = times[a].partition_point(|&x| x <= t);
                (i > 0).then(|| base[a] + i - 1)
            };
            let mut rows: Vec<Vec<(microlp::Variable, f64)>> = vec![Vec::new(); base[ns]];
            let mut supply = vec![0.0f64; base[ns]];
            for &c in cars {
                if let Some(n) = node(self.start[c].station, self.start[c].ready) {
                    supply[n] += 1.0;
                }
            }
            let mut serve = Vec::new();
            for &j in &cands {
                let o = &p.jobs[j];
                let Some(back) = node(o.return_station, p.ready_after(j)) else {
                    continue;
                };
                let up = p.serves(model, o.model) == Serves::Upgrade;
                for a in 0..ns {
                    let leave = o.pickup_at - p.travel(a, o.pickup_station);
                    let Some(from) = node(a, leave) else { continue };
                    let w = served_weight - if up { 1.0 } else { 0.0 };
                    let v = lp.add_integer_var(w, (0, 1));
                    rows[from].push((v, 1.0));
                    rows[back].push((v, -1.0));
                    order_rows[j].push((v, 1.0));
                    serve.push((j, v));
                }
            }
            // Waiting arcs unbounded above: the supply bounds their flow anyway, and a bound no
            // flow reaches only costs the simplex pivots (8 % fewer on the instances measured).
            for a in 0..ns {
                for i in 0..times[a].len() {
                    let v = lp.add_var(0.0, (0.0, f64::INFINITY));
                    rows[base[a] + i].push((v, 1.0));
                    if i + 1 < times[a].len() {
                        rows[base[a] + i + 1].push((v, -1.0));
                    }
                }
            }
            for (row, s) in rows.into_iter().zip(supply) {
                lp.add_constraint(row, microlp::ComparisonOp::Eq, s);
            }
            parts.push(serve);
        }
        for row in order_rows {
            if row.len() > 1 {
                lp.add_constraint(row, microlp::ComparisonOp::Le, 1.0);
            }
        }
        let mut options = microlp::SolveOptions::default();
        options.node_limit = Some(NODES);
        let sol = lp
            .solve_with(options)
            .ok()
            .and_then(|o| o.into_solution().ok())
            .filter(|x| {
                matches!(
                    x.status(),
                    microlp::SolutionStatus::Optimal | microlp::SolutionStatus::Feasible
                )
            })?;
        // The bound caps every plan of the family (the per-pool solves of `family_apply` only
        // choose among them): at most the current value, and nothing can be gained, so the
        // exact re-solves of the pools are skipped. The values are integers; half a unit
        // absorbs the LP's round-off.
        if sol.stats().best_bound.is_some_and(|b| b < current + 0.5) {
            return None;
        }
        let mut share = vec![vec![0.0f64; p.jobs.len()]; parts.len()];
        for (i, part) in parts.iter().enumerate() {
            for &(j, v) in part {
                share[i][j] += sol.var_value(v);
            }
        }
        Some(
            share
                .iter()
                .map(|s| (0..p.jobs.len()).filter(|&j| s[j] > 0.5).collect())
                .collect(),
        )
    }

    /// Solves each member exactly over its share and keeps the result when the family serves
    /// more orders, or as many with fewer upgrades.
    fn family_apply(&mut self, members: &[usize], shares: Vec<Vec<usize>>) -> bool {
        let p = self.p;
        let (cur_served, cur_upgrades) = self.served_and_upgrades(members);
        let mut usage = self.usage.clone();
        for &k in members {
            for &c in &self.commodities[k] {
                usage[c] = 0;
            }
        }
        let mut plan: Vec<Vec<Vec<usize>>> = Vec::with_capacity(members.len());
        let (mut served, mut upgrades) = (0, 0);
        for (&k, jobs) in members.iter().zip(&shares) {
            let cars = &self.commodities[k];
            let chains = commodity::solve(&self.ctx(), cars, jobs, &mut usage);
            for (ci, chain) in chains.iter().enumerate() {
                let Some(&c) = cars.get(ci) else { return false };
                if !self.feasible(c, chain) {
                    return false;
                }
                served += chain.len();
                upgrades += chain
                    .iter()
                    .filter(|&&j| p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Upgrade)
                    .count();
            }
            plan.push(chains);
        }
        if (served, Reverse(upgrades)) <= (cur_served, Reverse(cur_upgrades)) {
            return false;
        }
        for &k in members {
            for c in self.commodities[k].clone() {
                self.set_chain(c, Vec::new());
            }
        }
        for (&k, chains) in members.iter().zip(plan) {
            let cars = self.commodities[k].clone();
            for (c, chain) in cars.into_iter().zip(chains) {
                self.set_chain(c, chain);
            }
            if let Some(r) = self.reassigned.get_mut(k) {
                *r = true;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{generate, problem};

    /// The steps that run before the family LPs in `plan` (but the group re-solves and the
    /// relocation rounds), and the ejection passes after them.
    fn before_families(s: &mut Search) {
        s.through_neighbourhoods();
        s.settle(1000);
    }

    /// 90 orders, 27 cars (`generate(38, 90, 27)`): every move before it stops at 64 orders;
    /// the family LPs re-plan the pools of both families and serve two more.
    #[test]
    fn a_family_lp_serves_more_orders() {
        let p = problem::build(&generate(38, 90, 27)).unwrap();
        let mut s = Search::new(&p);
        before_families(&mut s);
        let (served, upgrades, ..) = s.objective();
        assert_eq!((served, upgrades), (64, -8), "the other moves stop at 64 orders");
        assert!(s.family_lps(600) > 0);
        let (served, upgrades, ..) = s.objective();
        assert_eq!((served, upgrades), (66, -11));
        assert_eq!(s.inconsistency(), None);
    }

    /// Once re-planned, the families are at their LP bound: a second pass proves that from
    /// the bound alone (no pool re-solved) and changes nothing.
    #[test]
    fn a_family_at_its_bound_is_left_alone() {
        let p = problem::build(&generate(38, 90, 27)).unwrap();
        let mut s = Search::new(&p);
        before_families(&mut s);
        assert!(s.family_lps(600) > 0);
        let chains = s.chains.clone();
        assert_eq!(s.family_lps(600), 0);
        assert_eq!(s.chains, chains);
    }

    /// Families larger than the limit are left alone.
    #[test]
    fn no_room_no_change() {
        let p = problem::build(&generate(38, 90, 27)).unwrap();
        let mut s = Search::new(&p);
        before_families(&mut s);
        let chains = s.chains.clone();
        assert_eq!(s.family_lps(10), 0);
        assert_eq!(s.chains, chains);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// On city-like instances, family LPs never serve fewer orders, never count more
        /// upgrades at equal fulfilment, report a kept family exactly when (served, upgrades)
        /// improved, and leave every chain feasible with each order on at most one car.
        #[test]
        fn family_lps_only_improve_and_stay_feasible(seed in 0u64..1_000_000, cars in 6usize..45, load in 20usize..45, polish in any::<bool>()) {
            let orders = cars * load / 10;
            let p = problem::build(&generate(seed, orders, cars)).unwrap();
            let mut s = Search::new(&p);
            s.rough_start(polish);
            let before = s.objective();
            let kept = s.family_lps(600);
            let after = s.objective();
            prop_assert!(after.0 >= before.0);
            prop_assert!((after.0, after.1) >= (before.0, before.1));
            prop_assert_eq!(kept > 0, (after.0, after.1) > (before.0, before.1));
            prop_assert_eq!(s.inconsistency(), None);
        }
    }
}
