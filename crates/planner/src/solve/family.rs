//! Family LPs (`Search::family_lps`): the commodities of one family of models (connected by
//! sharing orders they may serve), its pools and its single cars, re-planned together,
//! everything else fixed, by one mixed-integer program over their time-space networks with a
//! row "each order at most once" per order: their integer multi-commodity flow, solved as its
//! LP relaxation (an integral solution is the family's exact optimum) and a few
//! branch-and-bound nodes.

use std::cmp::Reverse;

use super::Search;
use crate::commodity;
use crate::problem::Serves;

/// What a family's program gives.
#[derive(Debug, PartialEq)]
enum Lp {
    /// Per member, the orders the solution gives it (more than half of the order).
    Shares(Vec<Vec<usize>>),
    /// Its bound proves that no plan of the family beats the current one.
    AtBound,
    /// No solution: the solver failed, or its nodes ran out before an integral one.
    Failed,
}

/// A family's program is built only when its pairs of a commodity and an order it may serve
/// number at most this many times `max_orders` (each pair is a departure per station in the
/// program): the families measured had 2.4–2.8 pairs per open order with their pools alone,
/// 4–11 with their single cars (at most 4,281 on instances of up to 800 orders, about 4 s);
/// a fleet whose cars nearly all have a blocked window would otherwise make one network per
/// car.
const ARCS_PER_ORDER: usize = 8;

/// Branch-and-bound nodes of one family's MIP at most, beyond its LP (`microlp`; a count, so
/// plans stay reproducible). The LP was integral on most families measured; where it was not,
/// 50 nodes found the missing orders and upgrades of several (RESULTS.md; the LP's rounding
/// alone: 6 orders fewer on 15 instances); 500 found gen:250:75:102's two upgrades too (with
/// the pools alone, before the single cars joined), but at four times its plan time.
const NODES: u64 = 50;

impl Search<'_> {
    /// Family LPs: for every family of commodities (two are in one family when some order
    /// model may be served by both) with at most `max_orders` orders open to it (plannable,
    /// and free or on its cars), its commodities — the pools and the single cars (a car with a
    /// blocked window after its start) — are re-planned together by one mixed-integer program
    /// (its LP, then at most [`NODES`] branch-and-bound nodes), everything else fixed: per
    /// commodity its time-space network (per station a node at each moment a car arrives
    /// there — a start, or a return plus turnaround — that some departure hangs on, a
    /// departure arc per order and station hanging on the last arrival no later than `pickup −
    /// travel`, for a single car only where the span from leaving until the turnaround is over
    /// overlaps none of its windows, waiting arcs between the nodes), one row "each order at
    /// most once" per order two arcs may serve, weights one order ≫ one upgrade. Each order
    /// goes to the commodity carrying more than half of it, each commodity is solved exactly
    /// over its share, every chain verified, and the result kept when the family serves more
    /// orders, or as many with fewer upgrades. Where the program's bound is no better than the
    /// current plan, nothing can be gained and nothing is re-solved. Where the family is too
    /// large (more than `max_orders` open orders, or more than [`ARCS_PER_ORDER`] ×
    /// `max_orders` pairs of a commodity and an order it may serve: each single car brings a
    /// network as large as a pool's), or its program gives no solution (the nodes ran out
    /// before an integral one, or the solver failed), its pools are tried instead, by families
    /// of their own, the single cars fixed. This re-plans a whole family at once, which the
    /// pair exchanges (two pools, one order at a time priced) and the group re-solves (one
    /// pool, a Lagrangian relaxation) do not. The families' programs are independent (no order
    /// is open to two) and are solved side by side on the machine's cores; the plan is the
    /// same on one. Returns how many families changed.
    pub fn family_lps(&mut self, max_orders: usize) -> usize {
        let p = self.p;
        let nk = self.commodities.len();
        let models: Vec<usize> = self.commodities.iter().map(|cars| p.cars[cars[0]].model).collect();
        // The single cars: a car with a blocked window after its start is a commodity alone.
        let single: Vec<bool> = self
            .commodities
            .iter()
            .map(|cars| cars.iter().any(|&c| super::window_ahead(p, c, self.start[c])))
            .collect();
        // Families: commodities joined when they may serve a common order model; the pools'
        // own families (a model whose cars are all single may join two of them) for the
        // fallback.
        let all: Vec<usize> = (0..nk).collect();
        let pools: Vec<usize> = all.iter().copied().filter(|&k| !single[k]).collect();
        let families = self.families_of(&all, &models);
        let pool_families = self.families_of(&pools, &models);
        // The orders open to `members`, or `None` when they are fewer than two or too large.
        let open_to = |s: &Self, members: &[usize]| -> Option<Vec<bool>> {
            if members.len() < 2 {
                return None;
            }
            let open: Vec<bool> = (0..p.jobs.len())
                .map(|j| {
                    s.fixed[j].is_none()
                        && match s.car_of[j] {
                            None => members
                                .iter()
                                .any(|&k| p.serves(models[k], p.jobs[j].model) != Serves::No),
                            Some(c) => members.contains(&s.commodity_of[c]),
                        }
                })
                .collect();
            let arcs: usize = members
                .iter()
                .map(|&k| {
                    (0..p.jobs.len())
                        .filter(|&j| open[j] && p.serves(models[k], p.jobs[j].model) != Serves::No)
                        .count()
                })
                .sum();
            let n_open = open.iter().filter(|&&x| x).count();
            (n_open <= max_orders && arcs <= ARCS_PER_ORDER.saturating_mul(max_orders)).then_some(open)
        };
        // The whole families' programs first, side by side: no order is open to two families
        // (two commodities that may serve one order model are in one family), so each program
        // is what it would be after the others are applied, and the plan the same whatever the
        // threads.
        let whole: Vec<Option<Vec<bool>>> = families.iter().map(|f| open_to(self, f)).collect();
        let tasks: Vec<(&[usize], &[bool])> = families
            .iter()
            .zip(&whole)
            .filter_map(|(f, open)| open.as_deref().map(|o| (f.as_slice(), o)))
            .collect();
        let mut answers = self.family_programs(&tasks).into_iter();
        let mut kept = 0;
        for (members, open) in families.iter().zip(&whole) {
            let answer = match open {
                Some(_) => answers.next().unwrap_or(Lp::Failed),
                None => Lp::Failed,
            };
            match answer {
                Lp::Shares(shares) => {
                    if self.family_apply(members, shares) {
                        kept += 1;
                    }
                    continue;
                }
                // Its pools alone, a restriction of the program, cannot do better.
                Lp::AtBound => continue,
                Lp::Failed => {}
            }
            // Too large, or no solution: its pools alone, by families of their own.
            let fallback: Vec<&Vec<usize>> = pool_families
                .iter()
                .filter(|f| f.iter().all(|k| members.contains(k)))
                .collect();
            if fallback.iter().map(|f| f.len()).sum::<usize>() == members.len() {
                continue; // no single car: the same program
            }
            for pools in fallback {
                let Some(open) = open_to(self, pools) else { continue };
                if let Some(Lp::Shares(shares)) = self.family_programs(&[(pools, &open)]).pop()
                    && self.family_apply(pools, shares)
                {
                    kept += 1;
                }
            }
        }
        if kept > 0 {
            self.fit_cache.iter_mut().for_each(|x| *x = None);
        }
        kept
    }

    /// Each task's program (`members`, the orders open to them), on up to as many threads as
    /// the machine has cores; a program whose solver panics (third-party code) gives no
    /// solution.
    fn family_programs(&self, tasks: &[(&[usize], &[bool])]) -> Vec<Lp> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.family_programs_on(tasks, cores)
    }

    /// [`Search::family_programs`] on at most `threads` threads.
    fn family_programs_on(&self, tasks: &[(&[usize], &[bool])], threads: usize) -> Vec<Lp> {
        let one = |(members, open): &(&[usize], &[bool])| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.family_lp(members, open)))
                .unwrap_or(Lp::Failed)
        };
        let threads = threads.min(tasks.len());
        if threads <= 1 {
            return tasks.iter().map(one).collect();
        }
        let mut answers: Vec<Option<Lp>> = (0..tasks.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        (t..tasks.len())
                            .step_by(threads)
                            .map(|i| (i, one(&tasks[i])))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for handle in handles {
                for (i, lp) in handle.join().unwrap_or_default() {
                    answers[i] = Some(lp);
                }
            }
        });
        answers.into_iter().map(|x| x.unwrap_or(Lp::Failed)).collect()
    }

    /// The families among the commodities `of` (two in one when some order model may be
    /// served by both), each in commodity order.
    fn families_of(&self, of: &[usize], models: &[usize]) -> Vec<Vec<usize>> {
        let p = self.p;
        let nm = p.models.len();
        let mut family: Vec<usize> = (0..of.len()).collect();
        fn find(f: &mut [usize], mut x: usize) -> usize {
            while f[x] != x {
                f[x] = f[f[x]];
                x = f[x];
            }
            x
        }
        for a in 0..of.len() {
            for b in a + 1..of.len() {
                let (ma, mb) = (models[of[a]], models[of[b]]);
                if (0..nm).any(|o| p.serves(ma, o) != Serves::No && p.serves(mb, o) != Serves::No) {
                    let (ra, rb) = (find(&mut family, a), find(&mut family, b));
                    family[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        let roots: Vec<usize> = (0..of.len()).map(|i| find(&mut family, i)).collect();
        (0..of.len())
            .filter(|&i| roots[i] == i)
            .map(|root| (0..of.len()).filter(|&i| roots[i] == root).map(|i| of[i]).collect())
            .collect()
    }

    /// The program of the family `members` over the `open` orders (see
    /// [`Search::family_lps`]).
    fn family_lp(&self, members: &[usize], open: &[bool]) -> Lp {
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
            // The arrival at or last before `t` at station `a`.
            let arrival = |a: usize, t: i64| {
                let i = times[a].partition_point(|&x| x <= t);
                (i > 0).then(|| base[a] + i - 1)
            };
            // A single car's blocked windows (a pool's cars have none after their start).
            let windows: &[(i64, i64)] = match cars.as_slice() {
                &[c] => &p.cars[c].blocked,
                _ => &[],
            };
            // The departures: (order, the arrival it hangs on, its return's arrival).
            let mut departures = Vec::new();
            for &j in &cands {
                let o = &p.jobs[j];
                let busy_end = p.ready_after(j);
                let Some(back) = arrival(o.return_station, busy_end) else {
                    continue;
                };
                for a in 0..ns {
                    let leave = o.pickup_at - p.travel(a, o.pickup_station);
                    let Some(from) = arrival(a, leave) else { continue };
                    if windows.iter().any(|&(b0, b1)| b0 < busy_end && leave < b1) {
                        continue;
                    }
                    departures.push((j, from, back));
                }
            }
            // Only the arrivals some departure hangs on are nodes: a car arriving at another
            // waits for the next node at its station, or has nothing left to take there. The
            // same program with fewer rows: 9–29 % fewer pivots, a quarter to a half less time
            // on the families measured.
            let mut node = vec![None; base[ns]];
            for &(_, from, _) in &departures {
                node[from] = Some(0);
            }
            let mut n_nodes = 0;
            for n in node.iter_mut().flatten() {
                *n = n_nodes;
                n_nodes += 1;
            }
            let mut next: Vec<Option<usize>> = vec![None; base[ns]];
            for a in 0..ns {
                let mut later = None;
                for i in (base[a]..base[a + 1]).rev() {
                    later = node[i].or(later);
                    next[i] = later;
                }
            }
            let mut rows: Vec<Vec<(microlp::Variable, f64)>> = vec![Vec::new(); n_nodes];
            let mut supply = vec![0.0f64; n_nodes];
            for &c in cars {
                if let Some(n) = arrival(self.start[c].station, self.start[c].ready).and_then(|i| next[i]) {
                    supply[n] += 1.0;
                }
            }
            let mut serve = Vec::with_capacity(departures.len());
            for &(j, from, back) in &departures {
                let up = p.serves(model, p.jobs[j].model) == Serves::Upgrade;
                let v = lp.add_integer_var(served_weight - if up { 1.0 } else { 0.0 }, (0, 1));
                if let Some(n) = node[from] {
                    rows[n].push((v, 1.0));
                }
                if let Some(n) = next[back] {
                    rows[n].push((v, -1.0));
                }
                order_rows[j].push((v, 1.0));
                serve.push((j, v));
            }
            // Waiting arcs unbounded above: the supply bounds their flow anyway, and a bound no
            // flow reaches only costs the simplex pivots (8 % fewer on the instances measured).
            for a in 0..ns {
                let nodes: Vec<usize> = (base[a]..base[a + 1]).filter_map(|i| node[i]).collect();
                for (i, &n) in nodes.iter().enumerate() {
                    let v = lp.add_var(0.0, (0.0, f64::INFINITY));
                    rows[n].push((v, 1.0));
                    if let Some(&m) = nodes.get(i + 1) {
                        rows[m].push((v, -1.0));
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
        let Some(sol) = lp
            .solve_with(options)
            .ok()
            .and_then(|o| o.into_solution().ok())
            .filter(|x| {
                matches!(
                    x.status(),
                    microlp::SolutionStatus::Optimal | microlp::SolutionStatus::Feasible
                )
            })
        else {
            return Lp::Failed;
        };
        // The bound caps every plan of the family (the per-commodity solves of `family_apply`
        // only choose among them): at most the current value, and nothing can be gained, so
        // the exact re-solves are skipped. The values are integers; half a unit absorbs the
        // LP's round-off.
        if sol.stats().best_bound.is_some_and(|b| b < current + 0.5) {
            return Lp::AtBound;
        }
        let mut share = vec![vec![0.0f64; p.jobs.len()]; parts.len()];
        for (i, part) in parts.iter().enumerate() {
            for &(j, v) in part {
                share[i][j] += sol.var_value(v);
            }
        }
        Lp::Shares(
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
    use crate::model::{Instance, Window};
    use crate::solve::tests::{at, instance};
    use crate::{generate, problem};

    /// The steps that run before the family LPs in `plan` (but the group re-solves and the
    /// relocation rounds), and the ejection passes after them.
    fn before_families(s: &mut Search) {
        s.through_neighbourhoods();
        s.settle(1000);
    }

    /// 90 orders, 27 cars (`generate(38, 90, 27)`): every move before it stops at 64 orders;
    /// the family LPs re-plan both families and serve two more.
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

    /// One station; `S` orders may be served by an `L` car. The `L` car `V1` (a pool) serves
    /// `O1` and `O3`, the `L` car `V2`, blocked 12:00–13:00 (a single car), serves the `S`
    /// order `O2` by upgrade, the `S` car `V3` stands idle; `O4` (clashing with `V2`'s window
    /// and with `O3`) and `O5` are free.
    fn single_car_instance() -> Instance {
        let mut inst = instance(
            &[("V1", "L"), ("V2", "L"), ("V3", "S")],
            &[
                ("O1", "L", 8, 10),
                ("O2", "S", 8, 10),
                ("O3", "L", 12, 14),
                ("O4", "L", 12, 14),
                ("O5", "S", 15, 17),
            ],
        );
        inst.vehicles[1].blocked = vec![Window {
            from: at(12),
            to: at(13),
        }];
        inst
    }

    /// Runs `test` on the plan of [`single_car_instance`].
    fn from_single_car_plan(test: impl FnOnce(&mut Search)) {
        let p = problem::build(&single_car_instance()).unwrap();
        let mut s = Search::new(&p);
        s.set_chain(0, vec![0, 2]);
        s.set_chain(1, vec![1]);
        let (served, upgrades, ..) = s.objective();
        assert_eq!((served, upgrades), (3, -1));
        test(&mut s);
    }

    /// A single car's orders are the family's too: with `V2` fixed no program of the pools
    /// could move `O2` off it; with it in the family `O2` goes to `V3`, which takes `O5` too.
    #[test]
    fn a_family_lp_moves_a_single_cars_orders() {
        from_single_car_plan(|s| {
            assert_eq!(s.family_lps(600), 1);
            let (served, upgrades, ..) = s.objective();
            assert_eq!((served, upgrades), (4, 0));
            assert_eq!(s.chains[2], vec![1, 4], "the S car serves the S orders");
            assert_eq!(s.inconsistency(), None);
        });
    }

    /// The single car's network has no departure into its blocked window: without that the
    /// program would give `O4` (or `O3`) to `V2` and serve five orders, a share no chain of
    /// `V2` can serve.
    #[test]
    fn a_single_cars_program_keeps_out_of_its_windows() {
        from_single_car_plan(|s| {
            let members: Vec<usize> = (0..s.commodities.len()).collect();
            let Lp::Shares(shares) = s.family_lp(&members, &[true; 5]) else {
                panic!("the program gains an order and an upgrade");
            };
            let v2 = members.iter().position(|&k| k == s.commodity_of[1]).unwrap();
            assert!(!shares[v2].contains(&2) && !shares[v2].contains(&3), "{shares:?}");
            assert_eq!(shares.iter().map(Vec::len).sum::<usize>(), 4);
        });
    }

    /// With the single car the family has more orders open than the limit allows, its pools
    /// alone do not: they are re-planned, the single car fixed (`V3` takes `O5`, `O2` stays on
    /// `V2`).
    #[test]
    fn a_family_too_large_with_its_single_cars_re_plans_its_pools() {
        from_single_car_plan(|s| {
            assert_eq!(s.family_lps(4), 1);
            let (served, upgrades, ..) = s.objective();
            assert_eq!((served, upgrades), (4, -1));
            assert_eq!(s.chains[1], vec![1]);
            assert_eq!(s.chains[2], vec![4]);
            assert_eq!(s.inconsistency(), None);
        });
    }

    /// A model whose cars are all single may join two families of pools that share no order
    /// model; the fallback re-plans the pools by families of their own.
    #[test]
    fn pools_keep_their_own_families() {
        // `A` orders may go to `B`, `C` orders too; only the `B` car has a window.
        let mut inst = instance(
            &[("V1", "A"), ("V2", "B"), ("V3", "C"), ("V4", "A"), ("V5", "C")],
            &[("O1", "A", 8, 10), ("O2", "B", 8, 10), ("O3", "C", 12, 14)],
        );
        inst.vehicles[1].blocked = vec![Window {
            from: at(12),
            to: at(13),
        }];
        inst.upgrades = [
            ("A".to_string(), vec!["B".to_string()]),
            ("B".to_string(), vec![]),
            ("C".to_string(), vec!["B".to_string()]),
        ]
        .into();
        let p = problem::build(&inst).unwrap();
        let s = Search::new(&p);
        let models: Vec<usize> = s.commodities.iter().map(|cars| p.cars[cars[0]].model).collect();
        let all: Vec<usize> = (0..s.commodities.len()).collect();
        assert_eq!(s.families_of(&all, &models).len(), 1);
        let pools: Vec<usize> = all.iter().copied().filter(|&k| k != s.commodity_of[1]).collect();
        assert_eq!(s.families_of(&pools, &models).len(), 2);
    }

    /// The families' programs give the same answers on one thread as side by side on two.
    #[test]
    fn family_programs_do_not_depend_on_the_threads() {
        let p = problem::build(&generate(38, 90, 27)).unwrap();
        let mut s = Search::new(&p);
        before_families(&mut s);
        let models: Vec<usize> = s.commodities.iter().map(|cars| p.cars[cars[0]].model).collect();
        let all: Vec<usize> = (0..s.commodities.len()).collect();
        let families = s.families_of(&all, &models);
        let opens: Vec<Vec<bool>> = families
            .iter()
            .map(|f| {
                (0..p.jobs.len())
                    .map(|j| s.fixed[j].is_none() && s.car_of[j].is_none_or(|c| f.contains(&s.commodity_of[c])))
                    .collect()
            })
            .collect();
        let tasks: Vec<(&[usize], &[bool])> = families
            .iter()
            .zip(&opens)
            .filter(|(f, _)| f.len() > 1)
            .map(|(f, o)| (f.as_slice(), o.as_slice()))
            .collect();
        assert_eq!(tasks.len(), 2, "two families");
        let one = s.family_programs_on(&tasks, 1);
        assert!(one.iter().any(|lp| matches!(lp, Lp::Shares(_))));
        assert_eq!(s.family_programs_on(&tasks, 2), one);
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
