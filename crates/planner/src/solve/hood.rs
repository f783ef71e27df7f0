//! Neighbourhood re-solves (`Search::neighbourhoods`): a few cars and a time window around an
//! unserved order (or an order served by upgrade) are re-planned exactly by a small
//! branch-and-bound, everything outside the window staying as it is.

use super::Search;
use crate::commodity::Start;
use crate::problem::Serves;

/// Cars in one neighbourhood at most: a car compatible with the seed order, ranked by how few
/// of its orders clash with it, then for each clashing order the cars that could take it.
const HOOD_CARS: usize = 5;
/// Cars compatible with the seed order taken first.
const SEED_CARS: usize = 3;
/// Alternative cars per clashing order.
const ALT_CARS: usize = 1;
/// Free orders besides the seed that the window may serve.
const HOOD_FREE: usize = 10;
/// Minutes the window reaches beyond the seed order and the orders clashing with it (a day:
/// windows of one to three hours found nothing on the instances of RESULTS.md, a day finds as
/// much as the whole horizon in fewer nodes).
const WINDOW_SLACK: i64 = 1440;

/// One neighbourhood: per car the part of its chain before the window (kept), the orders it
/// may take inside the window, and the first order after it (which it must still reach).
struct Hood {
    cars: Vec<usize>,
    /// The window's first pickup time: orders picked up before it stay where they are.
    lo: i64,
    /// Per car: its state after the kept prefix, and the first kept order after the window.
    state: Vec<Start>,
    after: Vec<Option<usize>>,
    /// The window's orders by pickup time, with per order its compatible local cars (exact
    /// model first) and whether each serves it by upgrade.
    orders: Vec<usize>,
    options: Vec<Vec<(usize, bool)>>,
    /// Positions in `orders` by the time the car is ready again after them (for the bound).
    by_end: Vec<usize>,
}

/// The branch-and-bound over a [`Hood`]: each order in pickup order goes to a compatible car
/// that can follow its state, or stays unserved; the best (served, upgrades) strictly better
/// than `best` is kept (it starts as the current plan's, so anything found is a gain).
struct HoodBb<'h, 's> {
    s: &'s Search<'s>,
    h: &'h Hood,
    state: Vec<Start>,
    assign: Vec<Option<usize>>,
    best: (usize, usize),
    found: Option<Vec<Option<usize>>>,
    nodes: usize,
    /// The bound's buffer (per car, when it is free), kept to save an allocation per node.
    scratch: Vec<i64>,
}

impl HoodBb<'_, '_> {
    /// At most how many of the window's orders from position `k` on the cars can still serve:
    /// models, stations and travel ignored, each order a busy span from its pickup until the
    /// car is ready again, and each car free from its state's ready time; the most such spans
    /// the cars can take (earliest end first, each to the car free latest before it starts:
    /// the greedy that is exact for intervals on identical machines). Were it to undercount,
    /// the search would only miss a move: whatever it keeps is verified and strictly better.
    fn bound(&mut self, k: usize) -> usize {
        let p = self.s.p;
        let mut free = std::mem::take(&mut self.scratch);
        free.clear();
        free.extend(self.state.iter().map(|s| s.ready));
        let mut n = 0;
        for &i in &self.h.by_end {
            if i < k {
                continue;
            }
            let j = self.h.orders[i];
            let at = p.jobs[j].pickup_at;
            let mut pick: Option<usize> = None;
            for (m, &f) in free.iter().enumerate() {
                if f <= at && pick.is_none_or(|q| free[q] < f) {
                    pick = Some(m);
                }
            }
            if let Some(m) = pick {
                free[m] = p.ready_after(j);
                n += 1;
            }
        }
        self.scratch = free;
        n
    }

    /// Explores from the window's order `k` on; false once the node budget is spent.
    fn go(&mut self, k: usize, served: usize, upgrades: usize) -> bool {
        if self.nodes == 0 {
            return false;
        }
        self.nodes -= 1;
        let remaining = self.bound(k);
        // Serving as many as the cars could at most cannot beat the best, or only tie its count
        // with as many upgrades (upgrades only grow from here).
        if served + remaining < self.best.0 || (served + remaining == self.best.0 && upgrades >= self.best.1) {
            return true;
        }
        let p = self.s.p;
        if k == self.h.orders.len() {
            // Every car must still reach the first order it keeps after the window.
            let reaches = (0..self.h.cars.len()).all(|i| match self.h.after[i] {
                None => true,
                Some(n) => {
                    let st = self.state[i];
                    p.leave_time(self.h.cars[i], st.station, st.ready, n).is_some()
                }
            });
            if reaches {
                self.best = (served, upgrades);
                self.found = Some(self.assign.clone());
            }
            return true;
        }
        let j = self.h.orders[k];
        for &(i, up) in &self.h.options[k] {
            let st = self.state[i];
            if p.leave_time(self.h.cars[i], st.station, st.ready, j).is_none() {
                continue;
            }
            self.state[i] = Start {
                station: p.jobs[j].return_station,
                ready: p.ready_after(j),
            };
            self.assign[k] = Some(i);
            let ok = self.go(k + 1, served + 1, upgrades + usize::from(up));
            self.assign[k] = None;
            self.state[i] = st;
            if !ok {
                return false;
            }
        }
        self.go(k + 1, served, upgrades)
    }
}

impl Search<'_> {
    /// Neighbourhood re-solves: for every unserved order, then every order served by upgrade
    /// (by pickup time), a few cars around it — those that could serve it with the fewest
    /// clashing orders, and for each clashing order the cars that could take that one — and a
    /// time window spanning the clashes are re-planned exactly by branch-and-bound: each of the
    /// window's orders (those on these cars, and free ones they may serve) goes to one of the
    /// cars or stays unserved, every car keeping its orders before and after the window and
    /// still reaching the first one after it. The best assignment that serves more orders, or
    /// as many with fewer upgrades, replaces the window's; orders it leaves unserved are free
    /// (ejection chains may place them later). This reaches exchanges among several cars at
    /// once that ejection chains (one or two orders, each into one car) and upgrade chains do
    /// not. `nodes` bounds each neighbourhood's search, `total` all of them together. Returns
    /// the moves kept.
    pub fn neighbourhoods(&mut self, nodes: usize, total: usize) -> usize {
        let p = self.p;
        let mut left = total;
        let mut kept = 0;
        let mut seeds: Vec<usize> = (0..p.jobs.len())
            .filter(|&j| self.fixed[j].is_none() && self.car_of[j].is_none())
            .collect();
        seeds.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
        let mut upgraded: Vec<usize> = (0..p.jobs.len())
            .filter(|&j| self.car_of[j].is_some_and(|c| p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Upgrade))
            .collect();
        upgraded.sort_by_key(|&j| (p.jobs[j].pickup_at, j));
        seeds.extend(upgraded);
        let free_list = |s: &Self| {
            let mut f: Vec<usize> = (0..p.jobs.len())
                .filter(|&x| s.fixed[x].is_none() && s.car_of[x].is_none())
                .collect();
            f.sort_by_key(|&x| (p.jobs[x].pickup_at, x));
            f
        };
        let mut free_all = free_list(self);
        for j in seeds {
            if left == 0 {
                break;
            }
            let exact_only = match self.car_of[j] {
                None => false,
                Some(c) if p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Upgrade => true,
                // Served exactly since (a kept move placed it): nothing to gain here.
                Some(_) => continue,
            };
            let Some(h) = self.hood(j, exact_only, &free_all) else {
                continue;
            };
            let budget = nodes.min(left);
            let (found, used) = self.hood_solve(&h, budget);
            left -= used;
            if let Some(assign) = found
                && self.hood_apply(&h, &assign)
            {
                kept += 1;
                free_all = free_list(self);
            }
        }
        if kept > 0 {
            self.fit_cache.iter_mut().for_each(|x| *x = None);
        }
        kept
    }

    /// Orders of car `c` whose busy span (pickup to ready again, widened by the longest drive)
    /// overlaps `j`'s. A chain's orders do not overlap, so both ends are found by bisection.
    fn clashes(&self, c: usize, j: usize) -> &[usize] {
        let p = self.p;
        let (a, b) = (
            p.jobs[j].pickup_at - self.max_travel,
            p.ready_after(j) + self.max_travel,
        );
        let chain = &self.chains[c];
        let from = chain.partition_point(|&x| p.ready_after(x) <= a);
        let to = chain.partition_point(|&x| p.jobs[x].pickup_at < b).max(from);
        &chain[from..to]
    }

    /// Up to `n` cars that may serve `j` (only of its own model when `exact_only`), not in
    /// `taken`, not blocked over it, fewest clashing orders first (then index).
    fn nearest_cars(&self, j: usize, exact_only: bool, taken: &[usize], n: usize) -> Vec<(usize, Vec<usize>)> {
        let p = self.p;
        let mut ranked: Vec<(usize, usize, Vec<usize>)> = self.cars_for_model[p.jobs[j].model]
            .iter()
            .copied()
            .filter(|&c| !exact_only || p.serves(p.cars[c].model, p.jobs[j].model) == Serves::Exact)
            .filter(|c| !taken.contains(c))
            // Not blocked over the order itself (from its own pickup station, no travel).
            .filter(|&c| p.leave_time(c, p.jobs[j].pickup_station, i64::MIN, j).is_some())
            .map(|c| {
                let cl: Vec<usize> = self.clashes(c, j).iter().copied().filter(|&x| x != j).collect();
                (cl.len(), c, cl)
            })
            .collect();
        ranked.sort_by_key(|r| (r.0, r.1));
        ranked.truncate(n);
        ranked.into_iter().map(|(_, c, cl)| (c, cl)).collect()
    }

    /// The neighbourhood of order `j` (see [`Search::neighbourhoods`]).
    fn hood(&self, j: usize, exact_only: bool, free_all: &[usize]) -> Option<Hood> {
        let p = self.p;
        let mut cars: Vec<usize> = Vec::new();
        if let Some(c) = self.car_of[j] {
            cars.push(c);
        }
        let first = self.nearest_cars(j, exact_only, &cars, SEED_CARS);
        if first.is_empty() {
            return None;
        }
        let (mut lo, mut hi) = (p.jobs[j].pickup_at, p.jobs[j].pickup_at);
        let mut clashing = Vec::new();
        for (c, cl) in &first {
            cars.push(*c);
            clashing.extend_from_slice(cl);
        }
        clashing.sort_by_key(|&x| (p.jobs[x].pickup_at, x));
        clashing.dedup();
        for &x in &clashing {
            lo = lo.min(p.jobs[x].pickup_at);
            hi = hi.max(p.jobs[x].pickup_at);
            if cars.len() >= HOOD_CARS {
                continue;
            }
            let alt = self.nearest_cars(x, false, &cars, ALT_CARS);
            for (c, _) in alt {
                if cars.len() < HOOD_CARS {
                    cars.push(c);
                }
            }
        }
        let (lo, hi) = (lo - WINDOW_SLACK, hi + WINDOW_SLACK);
        cars.sort_unstable();
        cars.dedup();
        let mut state = Vec::with_capacity(cars.len());
        let mut after = Vec::with_capacity(cars.len());
        let mut orders: Vec<usize> = Vec::new();
        for &c in &cars {
            let chain = &self.chains[c];
            let a = chain.partition_point(|&x| p.jobs[x].pickup_at < lo);
            let b = chain.partition_point(|&x| p.jobs[x].pickup_at <= hi);
            state.push(match a.checked_sub(1).and_then(|i| chain.get(i)) {
                None => self.start[c],
                Some(&q) => Start {
                    station: p.jobs[q].return_station,
                    ready: p.ready_after(q),
                },
            });
            after.push(chain.get(b).copied());
            orders.extend_from_slice(&chain[a..b]);
        }
        let fits_some = |x: usize| {
            cars.iter()
                .any(|&c| p.serves(p.cars[c].model, p.jobs[x].model) != Serves::No)
        };
        // The free orders nearest in pickup time to `j`, from both sides of it.
        let mid = free_all.partition_point(|&x| (p.jobs[x].pickup_at, x) < (p.jobs[j].pickup_at, j));
        let (mut left, mut right) = (mid, mid);
        let mut free: Vec<usize> = Vec::new();
        let pj = p.jobs[j].pickup_at;
        while free.len() < HOOD_FREE && (left > 0 || right < free_all.len()) {
            let take_left = match (left.checked_sub(1).map(|i| free_all[i]), free_all.get(right)) {
                (Some(l), Some(&r)) => pj - p.jobs[l].pickup_at <= p.jobs[r].pickup_at - pj,
                (Some(_), None) => true,
                _ => false,
            };
            let x = if take_left {
                left -= 1;
                free_all[left]
            } else {
                right += 1;
                free_all[right - 1]
            };
            if !(lo..=hi).contains(&p.jobs[x].pickup_at) {
                // Farther ones on this side are outside the window too.
                if take_left {
                    left = 0;
                } else {
                    right = free_all.len();
                }
                continue;
            }
            if x != j && fits_some(x) {
                free.push(x);
            }
        }
        orders.extend(free);
        if self.car_of[j].is_none() {
            orders.push(j);
        }
        orders.sort_by_key(|&x| (p.jobs[x].pickup_at, x));
        orders.dedup();
        let options = orders
            .iter()
            .map(|&x| {
                let mut o: Vec<(usize, bool)> = cars
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &c)| match p.serves(p.cars[c].model, p.jobs[x].model) {
                        Serves::No => None,
                        sv => Some((i, sv == Serves::Upgrade)),
                    })
                    .collect();
                // Exact cars first, then the current car, then by index.
                o.sort_by_key(|&(i, up)| (up, self.car_of[x] != Some(cars[i]), i));
                o
            })
            .collect();
        let mut by_end: Vec<usize> = (0..orders.len()).collect();
        by_end.sort_by_key(|&i| (p.ready_after(orders[i]), i));
        Some(Hood {
            by_end,
            cars,
            lo,
            state,
            after,
            orders,
            options,
        })
    }

    /// The best assignment of the window's orders (local car per order) strictly better than
    /// the current one, if found within `budget` nodes, and the nodes used.
    fn hood_solve(&self, h: &Hood, budget: usize) -> (Option<Vec<Option<usize>>>, usize) {
        let p = self.p;
        let (mut served, mut upgrades) = (0, 0);
        for &x in &h.orders {
            if let Some(c) = self.car_of[x]
                && h.cars.contains(&c)
            {
                served += 1;
                upgrades += usize::from(p.serves(p.cars[c].model, p.jobs[x].model) == Serves::Upgrade);
            }
        }
        let mut bb = HoodBb {
            s: self,
            h,
            state: h.state.clone(),
            assign: vec![None; h.orders.len()],
            best: (served, upgrades),
            found: None,
            nodes: budget,
            scratch: Vec::new(),
        };
        bb.go(0, 0, 0);
        (bb.found, budget - bb.nodes)
    }

    /// Carries out an assignment found by [`Search::hood_solve`]: each car keeps its orders
    /// before and after the window and takes those assigned to it inside. Every new chain is
    /// verified; should one not verify, nothing changes and `false` is returned.
    fn hood_apply(&mut self, h: &Hood, assign: &[Option<usize>]) -> bool {
        let p = self.p;
        let lo = h.lo;
        let in_window: Vec<bool> = {
            let mut w = vec![false; p.jobs.len()];
            for &x in &h.orders {
                w[x] = true;
            }
            w
        };
        let mut chains = Vec::with_capacity(h.cars.len());
        for (i, &c) in h.cars.iter().enumerate() {
            let chain = &self.chains[c];
            let a = chain.partition_point(|&x| p.jobs[x].pickup_at < lo);
            let mut next: Vec<usize> = chain[..a].to_vec();
            next.extend(
                h.orders
                    .iter()
                    .zip(assign)
                    .filter(|&(_, &to)| to == Some(i))
                    .map(|(&x, _)| x),
            );
            next.extend(
                chain[a..]
                    .iter()
                    .copied()
                    .filter(|&x| !in_window[x] && p.jobs[x].pickup_at >= lo),
            );
            if !self.feasible(c, &next) {
                return false;
            }
            chains.push(next);
        }
        // Orders of the window leave their cars first (an order may move between two of them).
        for &c in &h.cars {
            let rest: Vec<usize> = self.chains[c].iter().copied().filter(|&x| !in_window[x]).collect();
            self.set_chain(c, rest);
        }
        for (&c, chain) in h.cars.iter().zip(chains) {
            self.set_chain(c, chain);
            self.reassigned[self.commodity_of[c]] = true;
        }
        self.fit_cache.iter_mut().for_each(|x| *x = None);
        true
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{generate, problem};

    /// The search steps that run before the neighbourhoods in `plan`: rounds and ejection
    /// passes, reassignment sweeps, upgrade chains.
    fn before_neighbourhoods(s: &mut Search) {
        s.warm_start();
        s.polish(1000);
        s.reassign_sweeps(4, 1000, true);
        s.upgrade_chains(2, 4000, 4);
    }

    /// Ten orders, four cars (`generate(36, 10, 4)`): rounds, ejection chains, sweeps and
    /// upgrade chains stop at 7 orders; re-planning a few cars around the unserved orders
    /// exactly serves 8 (the exact optimum of the instance).
    #[test]
    fn a_neighbourhood_re_solve_serves_one_more_order() {
        let p = problem::build(&generate(36, 10, 4)).unwrap();
        let mut s = Search::new(&p);
        before_neighbourhoods(&mut s);
        assert_eq!(s.objective().0, 7, "the other moves stay at 7");
        assert!(s.neighbourhoods(500, 200_000) > 0);
        assert_eq!(s.objective().0, 8);
        assert_eq!(s.inconsistency(), None);
        // A fixed point: nothing more to find, nothing changes.
        let chains = s.chains.clone();
        assert_eq!(s.neighbourhoods(500, 200_000), 0);
        assert_eq!(s.chains, chains);
    }

    /// Ten orders, four cars (`generate(37, 10, 4)`): the other moves serve 5 with 3 upgrades,
    /// a neighbourhood re-solve serves as many with 2.
    #[test]
    fn a_neighbourhood_re_solve_saves_an_upgrade() {
        let p = problem::build(&generate(37, 10, 4)).unwrap();
        let mut s = Search::new(&p);
        before_neighbourhoods(&mut s);
        assert_eq!(
            (s.objective().0, s.objective().1),
            (5, -3),
            "the other moves keep 3 upgrades"
        );
        assert!(s.neighbourhoods(500, 200_000) > 0);
        assert_eq!((s.objective().0, s.objective().1), (5, -2));
        assert_eq!(s.inconsistency(), None);
    }

    /// With no nodes to spend nothing is searched and nothing changes.
    #[test]
    fn no_budget_no_change() {
        let p = problem::build(&generate(36, 10, 4)).unwrap();
        let mut s = Search::new(&p);
        before_neighbourhoods(&mut s);
        let chains = s.chains.clone();
        assert_eq!(s.neighbourhoods(500, 0), 0);
        assert_eq!(s.neighbourhoods(0, 200_000), 0);
        assert_eq!(s.chains, chains);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// On city-like instances, neighbourhood re-solves never serve fewer orders, never
        /// count more upgrades at equal fulfilment, report a kept move exactly when
        /// (served, upgrades) improved, and leave every chain feasible with each order on at
        /// most one car.
        #[test]
        fn neighbourhoods_only_improve_and_stay_feasible(seed in 0u64..1_000_000, orders in 10usize..80, cars in 3usize..25) {
            let p = problem::build(&generate(seed, orders, cars)).unwrap();
            let mut s = Search::new(&p);
            s.warm_start();
            s.polish(100);
            let before = s.objective();
            let kept = s.neighbourhoods(500, 50_000);
            let after = s.objective();
            prop_assert!(after.0 >= before.0);
            prop_assert!((after.0, after.1) >= (before.0, before.1));
            prop_assert_eq!(kept > 0, (after.0, after.1) > (before.0, before.1));
            assert_eq!(s.inconsistency(), None);
        }
    }
}
