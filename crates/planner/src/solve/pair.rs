//! Pair exchanges (`Search::pair_exchanges`): two pooled commodities, one of which may serve
//! some of the other's orders (by upgrade, or the other way round), exchange orders while each
//! pool's flow is re-solved as a whole, everything else fixed; then two-way swaps, in which the
//! taker also hands one of its own orders to the giver (a pool or a single car).

use std::cmp::Reverse;

use super::Search;
use crate::commodity::{self, Sub};
use crate::problem::Serves;

/// What serving an order is worth in the pools' weighted sub-problems: an upgrade costs one,
/// far less than an order (any number of upgrades a pool can have stays below one order).
const ORDER: i64 = 1 << 20;

/// Orders of the giver tried one at a time when the taker's choice of several fails together.
const SINGLES: usize = 16;

/// Two-way swaps tried per pair at most (`Search::swap_candidates`, best candidates first).
const SWAPS: usize = 5;

/// A pair's split: (served, fewer upgrades) of the pair, the taker's orders and the giver's.
type Split3 = ((usize, Reverse<usize>), Vec<usize>, Vec<usize>);

/// Which of the giver's orders the taker's solve of `Search::pair_split` may take, and which
/// of its own it must give up.
#[derive(Clone, Copy)]
enum Split {
    /// Every offered order.
    All,
    /// Only this one of the giver's orders.
    Only(usize),
    /// Every offered order, but the taker may not keep this one of its own (a two-way swap).
    Without(usize),
}

/// A pool's weighted sub-problem over every plannable order its model may serve (the orders
/// outside the pair are forbidden by their weight), built once per pass and re-solved warm.
struct Pool {
    cands: Vec<usize>,
    /// Per candidate, whether the pool serves it by upgrade.
    upgrade: Vec<bool>,
    sub: Sub,
    /// Per order the pool holds, what the pool loses without it (`Search::pair_exchange`),
    /// once computed; cleared when a move changes the plan.
    loss: Vec<Option<i64>>,
    /// This pool's best value over its own orders and the free ones, once computed.
    base: Option<i64>,
}

impl Pool {
    /// Each candidate's weight: one order less its upgrade when `open` and not `forbid`den,
    /// else below zero (never served).
    fn weights(&self, open: &[bool], forbid: impl Fn(usize) -> bool) -> Vec<i64> {
        self.cands
            .iter()
            .zip(&self.upgrade)
            .map(|(&j, &up)| {
                if open[j] && !forbid(j) {
                    ORDER - i64::from(up)
                } else {
                    -ORDER
                }
            })
            .collect()
    }

    /// The pool's best value over the orders `own` allows, computed once (see `loss`).
    fn base(&mut self, own: &[bool]) -> i64 {
        if let Some(b) = self.base {
            return b;
        }
        let b = self.solve(&self.weights(own, |_| false)).0;
        self.base = Some(b);
        b
    }

    /// Solves at `weight`; the value served and the orders served (ascending).
    fn solve(&mut self, weight: &[i64]) -> (i64, Vec<usize>) {
        self.sub.solve(weight);
        let mut value = 0;
        let mut served = Vec::new();
        for (x, &j) in self.cands.iter().enumerate() {
            if self.sub.served[x] && weight[x] > 0 {
                value += weight[x];
                served.push(j);
            }
        }
        (value, served)
    }
}

impl Search<'_> {
    /// Pair exchanges: for every two pools (commodities of several cars) where one, the taker,
    /// may serve orders the other, the giver, serves by upgrade, those orders are offered to the
    /// taker, each worth one order less its upgrade there less what the giver loses without it:
    /// the giver re-solved as a whole, over its own orders and the free ones, without that order
    /// (warm, one sub-problem solve per order, kept for every taker until a move is made), so
    /// that the giver may reroute all its cars to take a free order, or drop another upgraded
    /// one, in its place. The taker is solved exactly at these weights over its own orders, the
    /// free ones and the offered ones, then the giver over what the taker left (its orders, the
    /// free ones, the taker's it dropped); when the giver cannot make up for several taken
    /// orders together (their losses were priced one at a time), each is tried alone. The
    /// pair's new plan is kept when it serves more orders, or as many with fewer upgrades, each
    /// pool then solved exactly over its share (relocation, car choice) and verified. This is
    /// the exchange in which two pools' flows each change as a whole (an upgraded order dropped,
    /// another moved from one pool to the other, a free order served in its place), which the
    /// sweeps (a displaced order priced by one direct refill of its gap), the chains and
    /// neighbourhoods (a few cars) and a Lagrangian relaxation of the pair (RESULTS.md) do not
    /// reach.
    ///
    /// With `swaps`, a second loop over the pairs then tries two-way swaps on the plan the
    /// one-way exchanges left, the givers now also the single cars that hold an order by
    /// upgrade: the taker is solved at the same weights but without one of its own orders that
    /// the giver may serve (`Search::swap_candidates`, at most `SWAPS` per pair), and the giver
    /// over what is left, that order included; the first swap that serves more orders, or as
    /// many with fewer upgrades, is carried out like a one-way exchange. This offers what the
    /// one-way pricing cannot (the taker keeps its own orders at full worth there): the taker
    /// takes an offered order exactly in place of one it serves by upgrade, which the giver
    /// takes instead (an upgrade of two levels becoming one of one level), or makes room for
    /// two offered orders by handing back one, or (a single car as giver) takes a free order
    /// in the gap while the car serves the handed order exactly in place of its upgraded one.
    /// `work` bounds the sub-problem solves; returns the exchanges kept.
    pub fn pair_exchanges(&mut self, work: &mut usize, swaps: bool) -> usize {
        let p = self.p;
        let nk = self.commodities.len();
        let model_of = |s: &Self, k: usize| s.commodities[k].first().map(|&c| p.cars[c].model);
        let pools: Vec<usize> = (0..nk).filter(|&k| self.commodities[k].len() >= 2).collect();
        let mut built: Vec<Option<Pool>> = (0..nk).map(|_| None).collect();
        let mut kept = 0;
        // One-way exchanges first, then two-way swaps on the plan they leave (swaps tried in
        // the same loop would change the plan under the one-way exchanges that follow).
        for swaps in [false, true].into_iter().take(if swaps { 2 } else { 1 }) {
            // The swaps' givers include the single cars that hold an order by upgrade.
            let givers: Vec<usize> = if swaps {
                let upgraded = |k: usize| {
                    self.commodities[k].iter().any(|&c| {
                        self.chains[c]
                            .iter()
                            .any(|&j| p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Upgrade)
                    })
                };
                (0..nk)
                    .filter(|&k| self.commodities[k].len() >= 2 || upgraded(k))
                    .collect()
            } else {
                pools.clone()
            };
            for &g in &givers {
                for &t in &pools {
                    let (Some(mg), Some(mt)) = (model_of(self, g), model_of(self, t)) else {
                        continue;
                    };
                    // The taker must be able to serve some model the giver serves by upgrade
                    // (the orders offered).
                    let shares = (0..p.models.len())
                        .any(|m| p.serves(mg, m) == Serves::Upgrade && p.serves(mt, m) != Serves::No);
                    if g == t || !shares || *work == 0 {
                        continue;
                    }
                    // A swap needs one of the taker's orders to hand back (checked before the
                    // sub-problems are built: most pairs have none).
                    if swaps && self.swap_candidates(g, t, &self.offered(g, t)).is_empty() {
                        continue;
                    }
                    for k in [g, t] {
                        if built[k].is_none() {
                            built[k] = Some(self.pool(k));
                            *work = work.saturating_sub(1);
                        }
                    }
                    let (Some(mut pg), Some(mut pt)) = (built[g].take(), built[t].take()) else {
                        continue;
                    };
                    if self.pair_exchange(g, t, &mut pg, &mut pt, work, swaps) {
                        kept += 1;
                        pg.loss.clear();
                        pt.loss.clear();
                        built.iter_mut().flatten().for_each(|x| x.loss.clear());
                    }
                    built[g] = Some(pg);
                    built[t] = Some(pt);
                }
            }
        }
        if kept > 0 {
            self.fit_cache.iter_mut().for_each(|x| *x = None);
        }
        kept
    }

    /// Pool `k`'s sub-problem over every plannable order its model may serve.
    fn pool(&self, k: usize) -> Pool {
        let p = self.p;
        let cars = &self.commodities[k];
        let cm = cars.first().map_or(0, |&c| p.cars[c].model);
        let cands: Vec<usize> = (0..p.jobs.len())
            .filter(|&j| self.fixed[j].is_none() && p.serves(cm, p.jobs[j].model) != Serves::No)
            .collect();
        let upgrade = cands
            .iter()
            .map(|&j| p.serves(cm, p.jobs[j].model) == Serves::Upgrade)
            .collect();
        let sub = commodity::max_weight(&self.ctx(), cars, &cands, &vec![-ORDER; cands.len()]);
        Pool {
            cands,
            upgrade,
            sub,
            loss: Vec::new(),
            base: None,
        }
    }

    /// One exchange from giver `g` to taker `t` (see [`Search::pair_exchanges`]); whether it
    /// was kept.
    fn pair_exchange(
        &mut self,
        g: usize,
        t: usize,
        pg: &mut Pool,
        pt: &mut Pool,
        work: &mut usize,
        swaps: bool,
    ) -> bool {
        let p = self.p;
        let nj = p.jobs.len();
        let open: Vec<bool> = (0..nj)
            .map(|j| {
                self.fixed[j].is_none()
                    && self.car_of[j].is_none_or(|c| self.commodity_of[c] == g || self.commodity_of[c] == t)
            })
            .collect();
        let held = |s: &Self, j: usize, k: usize| s.car_of[j].is_some_and(|c| s.commodity_of[c] == k);
        let offered = self.offered(g, t);
        if offered.is_empty() {
            return false;
        }
        // What the giver loses without each offered order, re-solved as a whole over its own
        // orders and the free ones (the same for every taker, so kept until a move is made).
        let mut loss = vec![ORDER; nj];
        if pg.loss.len() != nj {
            pg.loss = vec![None; nj];
            pg.base = None;
        }
        let own: Vec<bool> = (0..nj)
            .map(|j| self.fixed[j].is_none() && self.car_of[j].is_none_or(|c| self.commodity_of[c] == g))
            .collect();
        for &m in &offered {
            if let Some(l) = pg.loss[m] {
                loss[m] = l;
                continue;
            }
            if *work == 0 {
                return false;
            }
            *work -= 1;
            let b = pg.base(&own);
            let (v, _) = pg.solve(&pg.weights(&own, |j| j == m));
            loss[m] = (b - v).max(0);
            pg.loss[m] = Some(loss[m]);
        }
        // The taker at those prices.
        let wt: Vec<i64> = pt
            .cands
            .iter()
            .zip(&pt.upgrade)
            .map(|(&j, &up)| {
                if !open[j] {
                    -ORDER
                } else {
                    ORDER - i64::from(up) - if held(self, j, g) { loss[j] } else { 0 }
                }
            })
            .map(|w| if w > 0 { w } else { -ORDER })
            .collect();
        let (cur_served, cur_upgrades) = self.served_and_upgrades(&[g, t]);
        let current = (cur_served, Reverse(cur_upgrades));
        let (mut best, mut taken, mut kept) = (current, Vec::new(), Vec::new());
        if swaps {
            // Two-way swaps: the taker hands one of its own orders to the giver, which may
            // take it in place of the offered ones (`Search::swap_candidates`); the first that
            // pays is kept.
            for r in self.swap_candidates(g, t, &offered).into_iter().take(SWAPS) {
                if *work < 2 {
                    break;
                }
                *work -= 2;
                let res = self.pair_split(g, t, pg, pt, &open, &wt, Split::Without(r));
                let Some((score, tk, kp)) = res else {
                    continue;
                };
                if score > best {
                    (best, taken, kept) = (score, tk, kp);
                    break;
                }
            }
        } else {
            // All the giver's orders the taker wants at once; when the giver cannot make up
            // for them together (its losses were priced one order at a time), each alone.
            let Some((score, tk, kp)) = self.pair_split(g, t, pg, pt, &open, &wt, Split::All) else {
                return false;
            };
            let from_g: Vec<usize> = tk.iter().copied().filter(|&j| held(self, j, g)).collect();
            if from_g.is_empty() {
                return false;
            }
            (best, taken, kept) = (score, tk, kp);
            if best <= current && from_g.len() > 1 {
                for &m in from_g.iter().take(SINGLES) {
                    if *work < 2 {
                        break;
                    }
                    *work -= 2;
                    let Some((score, tk, kp)) = self.pair_split(g, t, pg, pt, &open, &wt, Split::Only(m)) else {
                        continue;
                    };
                    if score > best {
                        (best, taken, kept) = (score, tk, kp);
                    }
                }
            }
        }
        if best <= current {
            return false;
        }
        // Each pool solved exactly over its share: it serves all of it (the sub-problem's flow
        // is one way to) with the least relocation, cars chosen as everywhere else.
        let mut usage = self.usage.clone();
        for k in [g, t] {
            for &c in &self.commodities[k] {
                usage[c] = 0;
            }
        }
        let mut new: Vec<(usize, Vec<usize>)> = Vec::new();
        for (k, share) in [(t, &taken), (g, &kept)] {
            let cars = &self.commodities[k];
            let chains = commodity::solve(&self.ctx(), cars, share, &mut usage);
            if chains.iter().map(Vec::len).sum::<usize>() != share.len() {
                return false;
            }
            for (&c, chain) in cars.iter().zip(chains) {
                if !self.feasible(c, &chain) {
                    return false;
                }
                new.push((c, chain));
            }
        }
        for &(c, _) in &new {
            self.set_chain(c, Vec::new());
        }
        for (c, chain) in new {
            self.set_chain(c, chain);
        }
        for k in [g, t] {
            if let Some(r) = self.reassigned.get_mut(k) {
                *r = true;
            }
        }
        true
    }

    /// The model of pool (or single car) `k`: its cars share one.
    fn pool_model(&self, k: usize) -> usize {
        self.commodities[k].first().map_or(0, |&c| self.p.cars[c].model)
    }

    /// The orders giver `g` serves by upgrade that taker `t` may serve (ascending).
    fn offered(&self, g: usize, t: usize) -> Vec<usize> {
        let p = self.p;
        let (gm, tm) = (self.pool_model(g), self.pool_model(t));
        let mut out: Vec<usize> = self.commodities[g]
            .iter()
            .flat_map(|&c| self.chains[c].iter().copied())
            .filter(|&j| {
                self.fixed[j].is_none()
                    && p.serves(gm, p.jobs[j].model) == Serves::Upgrade
                    && p.serves(tm, p.jobs[j].model) != Serves::No
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// The taker's own orders a two-way swap may hand to the giver (which may serve them), each
    /// once: first those the taker serves by upgrade and that overlap an offered order in time
    /// (the taker takes an offered order exactly in place of an upgraded one, which the giver
    /// takes in place of the offered one), then the others that fit into the gap an offered
    /// order leaves on its giver car while an offered order fits into theirs (the taker makes
    /// room for two offered orders by handing back one), those into whose gap the most offered
    /// orders fit first.
    fn swap_candidates(&self, g: usize, t: usize, offered: &[usize]) -> Vec<usize> {
        let p = self.p;
        let gm = self.pool_model(g);
        let gcand = |r: usize| p.serves(gm, p.jobs[r].model) != Serves::No;
        let tm = self.pool_model(t);
        let mut out: Vec<usize> = Vec::new();
        for &d in &self.commodities[t] {
            for &r in &self.chains[d] {
                let (tr, up) = (self.timing[r], p.serves(tm, p.jobs[r].model) == Serves::Upgrade);
                let overlaps = offered.iter().any(|&m| {
                    let tm = self.timing[m];
                    tr.pickup_at < tm.ready && tm.pickup_at < tr.ready
                });
                if gcand(r) && up && overlaps {
                    out.push(r);
                }
            }
        }
        let first = out.len();
        let mut room: Vec<usize> = Vec::new();
        for &m in offered {
            let Some(c) = self.car_of[m] else {
                continue;
            };
            let rest: Vec<usize> = self.chains[c].iter().copied().filter(|&j| j != m).collect();
            for &d in &self.commodities[t] {
                for &r in &self.chains[d] {
                    if !gcand(r) || out.contains(&r) || self.fits_in(c, &rest, r).is_none() {
                        continue;
                    }
                    let there: Vec<usize> = self.chains[d].iter().copied().filter(|&j| j != r).collect();
                    let fit = offered
                        .iter()
                        .filter(|&&o| self.fits_in(d, &there, o).is_some())
                        .count();
                    if fit > 0 {
                        out.push(r);
                        room.push(fit);
                    }
                }
            }
        }
        // Those that make room for the most offered orders first (stable: ties as found).
        let mut idx: Vec<usize> = (0..room.len()).collect();
        idx.sort_by_key(|&i| Reverse(room[i]));
        let tail: Vec<usize> = idx.iter().filter_map(|&i| out.get(first + i).copied()).collect();
        out.truncate(first);
        out.extend(tail);
        out
    }

    /// The taker's solve at weights `wt` (restricted as `split` says), then the giver's over
    /// what is left: (served, fewer upgrades) of the pair, and the orders of each (ascending);
    /// `None` for a swap in which the taker takes none of a pool giver's orders.
    #[allow(clippy::too_many_arguments)]
    fn pair_split(
        &self,
        g: usize,
        t: usize,
        pg: &mut Pool,
        pt: &mut Pool,
        open: &[bool],
        wt: &[i64],
        split: Split,
    ) -> Option<Split3> {
        let p = self.p;
        let held = |j: usize| self.car_of[j].is_some_and(|c| self.commodity_of[c] == g);
        let w: Vec<i64> = match split {
            Split::All => wt.to_vec(),
            Split::Only(m) => pt
                .cands
                .iter()
                .zip(wt)
                .map(|(&j, &w)| if held(j) && j != m { -ORDER } else { w })
                .collect(),
            Split::Without(r) => pt
                .cands
                .iter()
                .zip(wt)
                .map(|(&j, &w)| if j == r { -ORDER } else { w })
                .collect(),
        };
        let (_, taken) = pt.solve(&w);
        if matches!(split, Split::Without(_)) && self.commodities[g].len() >= 2 && !taken.iter().any(|&j| held(j)) {
            // The taker makes no room for a pool's orders: no swap tried (the pool's solve is
            // dear; a single car's is cheap, and it may take the handed order in place of its
            // upgraded one while the taker serves a free order in the gap).
            return None;
        }
        let mut gone = vec![false; p.jobs.len()];
        for &j in &taken {
            gone[j] = true;
        }
        let (_, kept) = pg.solve(&pg.weights(open, |j| gone[j]));
        let up_of = |k: usize, set: &[usize]| {
            let m = self.pool_model(k);
            set.iter()
                .filter(|&&j| p.serves(m, p.jobs[j].model) == Serves::Upgrade)
                .count()
        };
        let served = taken.len() + kept.len();
        let upgrades = up_of(t, &taken) + up_of(g, &kept);
        Some(((served, Reverse(upgrades)), taken, kept))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{generate, problem};

    /// The steps that run before the pair exchanges in `plan` (but the group re-solves and
    /// relocation rounds).
    fn before_pairs(s: &mut Search) {
        s.through_neighbourhoods();
    }

    /// 120 orders, 36 cars (`generate(176, 120, 36)`): every move before it stops at 86 orders
    /// with 8 upgrades; a one-way pair exchange serves as many with 7.
    #[test]
    fn a_pair_exchange_saves_an_upgrade() {
        let p = problem::build(&generate(176, 120, 36)).unwrap();
        let mut s = Search::new(&p);
        before_pairs(&mut s);
        let (served, upgrades, ..) = s.objective();
        assert_eq!(
            (served, upgrades),
            (86, -8),
            "the other moves stop at 86 orders, 8 upgrades"
        );
        let mut work = 100_000;
        assert!(s.pair_exchanges(&mut work, false) > 0);
        let (served, upgrades, ..) = s.objective();
        assert_eq!((served, upgrades), (86, -7));
        assert_eq!(s.inconsistency(), None);
    }

    /// 90 orders, 27 cars (`generate(4, 90, 27)`): every move before it and the one-way pair
    /// exchanges stop at 71 orders with 15 upgrades; a two-way swap serves as many with 14.
    #[test]
    fn a_two_way_swap_saves_an_upgrade() {
        let p = problem::build(&generate(4, 90, 27)).unwrap();
        let mut s = Search::new(&p);
        before_pairs(&mut s);
        let mut work = 100_000;
        s.pair_exchanges(&mut work, false);
        let (served, upgrades, ..) = s.objective();
        assert_eq!(
            (served, upgrades),
            (71, -15),
            "the one-way exchanges stop at 71 orders, 15 upgrades"
        );
        let chains = s.chains.clone();
        assert_eq!(s.pair_exchanges(&mut work, false), 0, "one-way: nothing more");
        assert_eq!(s.chains, chains);
        assert!(s.pair_exchanges(&mut work, true) > 0);
        let (served, upgrades, ..) = s.objective();
        assert_eq!((served, upgrades), (71, -14));
        assert_eq!(s.inconsistency(), None);
    }

    /// With no work to spend nothing is searched and nothing changes.
    #[test]
    fn no_work_no_change() {
        let p = problem::build(&generate(176, 120, 36)).unwrap();
        let mut s = Search::new(&p);
        before_pairs(&mut s);
        let chains = s.chains.clone();
        let mut work = 0;
        assert_eq!(s.pair_exchanges(&mut work, true), 0);
        assert_eq!(s.chains, chains);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// On city-like instances, pair exchanges never serve fewer orders, never count more
        /// upgrades at equal fulfilment, report a kept move exactly when (served, upgrades)
        /// improved, and leave every chain feasible with each order on at most one car.
        #[test]
        fn pair_exchanges_only_improve_and_stay_feasible(seed in 0u64..1_000_000, cars in 6usize..60, load in 20usize..45, polish in any::<bool>()) {
            let orders = cars * load / 10;
            let p = problem::build(&generate(seed, orders, cars)).unwrap();
            let mut s = Search::new(&p);
            s.rough_start(polish);
            let before = s.objective();
            let mut work = 100_000;
            let kept = s.pair_exchanges(&mut work, true);
            let after = s.objective();
            prop_assert!(after.0 >= before.0);
            prop_assert!((after.0, after.1) >= (before.0, before.1));
            prop_assert_eq!(kept > 0, (after.0, after.1) > (before.0, before.1));
            prop_assert_eq!(s.inconsistency(), None);
        }
    }
}
