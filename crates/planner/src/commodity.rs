//! One commodity's exact sub-problem: a group of interchangeable cars (same model, no blocked
//! window that can matter) or a single car, and the orders it may take, solved as a min-cost
//! flow in a time-space network.
//!
//! The network has, per station, a timeline of moments at which a car can become ready there
//! (its start, or a return plus turnaround) or must leave there for a pickup (`pickup - travel`).
//! A car waits on the timeline and leaves at exactly the moment FORMAT.md's rule says, so a
//! departure arc from station A into order j exists iff a car ready at A by then may take j —
//! which for a single car includes the blocked-window test of the span `[leave, return +
//! turnaround)`. This keeps the network at O(orders × stations) arcs instead of the O(orders²)
//! of order-to-order arcs. Previous-plan links (car → first order, order → next order on the
//! same car) are extra direct arcs with a small bonus, so that keeping them is preferred.
//!
//! Costs are lexicographic within the commodity: a served order is worth `w_serve`, more than any
//! combination of the lower levels; an upgrade costs `w_upgrade`, more than all relocation; a
//! relocation minute costs `w_reloc`, more than all link bonuses (1 each).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::flow::Network;
use crate::problem::{Problem, Serves};

/// Where and when a car can start its (re-plannable) chain.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    pub station: usize,
    pub ready: i64,
}

/// Inputs shared by all sub-problems of one planning run.
pub struct Ctx<'a> {
    pub p: &'a Problem,
    pub start: &'a [Start],
    /// Previous-plan successor of each order on the same car, when both remain plannable.
    pub prev_next: &'a [Option<usize>],
    /// Previous-plan first plannable order of each car.
    pub prev_first: &'a [Option<usize>],
    /// Previous-plan car of each order.
    pub prev_car: &'a [Option<usize>],
    pub max_travel: i64,
}

/// The weights of one solve (see the module doc).
#[derive(Debug, Clone, Copy)]
struct Weights {
    serve: i64,
    upgrade: i64,
    reloc: i64,
    link: i64,
}

fn weights(orders: usize, links: usize, max_travel: i64) -> Weights {
    const LIMIT: i128 = 1 << 60;
    let n = orders as i128 + 1;
    let mt = max_travel as i128 + 1;
    for (reloc, link) in [(links as i128 + 1, 1i128), (1, 0)] {
        let upgrade = reloc * mt * n + link * n + 1;
        let serve = upgrade * n + reloc * mt * n + link * n + 1;
        if serve * n * 2 < LIMIT {
            return Weights {
                serve: serve as i64,
                upgrade: upgrade as i64,
                reloc: reloc as i64,
                link: link as i64,
            };
        }
    }
    // Huge instances with huge travel times: keep the first two levels only.
    let upgrade = 1i128;
    let serve = n + 1;
    Weights {
        serve: serve as i64,
        upgrade: upgrade as i64,
        reloc: 0,
        link: 0,
    }
}

/// What a timeline event is for: car `ci`'s start, candidate `i`'s return (ready again), or
/// departure `d` (so that the sweep over a station's events tells each its timeline node).
#[derive(Debug, Clone, Copy)]
enum Event {
    Start(usize),
    Back(usize),
    Leave(usize),
}

enum Kind {
    Source,
    Car(usize),
    Timeline(usize, usize),
    In(usize),
    Out(usize),
    Sink,
}

/// Solves the commodity: `cars` (all of one model; a single car may have blocked windows), over
/// candidate orders `jobs` (each compatible with the model). Returns each car's chain, in
/// pickup order; every chain is feasible by construction and re-verified.
pub fn solve(ctx: &Ctx, cars: &[usize], jobs: &[usize], usage: &mut [i64]) -> Vec<Vec<usize>> {
    run(ctx, cars, jobs, usage, Mode::Plan, None).0
}

/// Like [`solve`], but an order's worth is the given weight (at least 1 for a candidate) instead
/// of the fixed "served" weight; relocation and previous-plan links only break ties.
pub fn solve_priced(ctx: &Ctx, cars: &[usize], jobs: &[usize], weight: &[i64], usage: &mut [i64]) -> Vec<Vec<usize>> {
    run(ctx, cars, jobs, usage, Mode::PlanPriced(weight), None).0
}

/// The Lagrangian sub-problem: the most total `weight` (per candidate order, positive) the
/// commodity can serve, exactly (blocked windows of a single car respected). Returns which
/// candidates are served.
pub fn max_weight(ctx: &Ctx, cars: &[usize], jobs: &[usize], weight: &[i64]) -> Sub {
    let mut usage = vec![0; ctx.p.cars.len()];
    let mut keep = None;
    let served = run(ctx, cars, jobs, &mut usage, Mode::Weighted(weight), Some(&mut keep)).1;
    keep.unwrap_or(Sub {
        net: Network::new(0),
        serve_arc: Vec::new(),
        single: false,
        sink: 0,
        served,
    })
}

/// A commodity's weighted sub-problem kept for re-solving with new weights (the Lagrangian
/// iterations): the network is built once, and the flow warm-starts from the last basis.
pub struct Sub {
    net: Network,
    serve_arc: Vec<usize>,
    single: bool,
    sink: usize,
    /// Which candidates the last solve served.
    pub served: Vec<bool>,
}

impl Sub {
    /// Solves again with new weights (one per candidate, as at construction).
    pub fn solve(&mut self, weight: &[i64]) {
        const NONE: usize = usize::MAX;
        for (i, &a) in self.serve_arc.iter().enumerate() {
            if a != NONE {
                self.net.set_cost(a, -weight.get(i).copied().unwrap_or(0));
            }
        }
        if self.single {
            let (dist, prev) = self.net.dag_shortest();
            if dist.get(self.sink).is_some_and(|&d| d < 0) {
                self.net.push_path(&prev, self.sink);
            } else {
                self.net.push_path(&[], 0);
            }
        } else {
            self.net.min_cost_flow();
        }
        for (i, &a) in self.serve_arc.iter().enumerate() {
            self.served[i] = a != NONE && self.net.flow(a) > 0;
        }
    }
}

/// What a run optimises.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// The lexicographic plan objective; chains are decomposed.
    Plan,
    /// The number of served orders only.
    Count,
    /// Given weights per candidate order.
    Weighted(&'a [i64]),
    /// Given weights per candidate order, then relocation and links as tie-breaks; chains are
    /// decomposed (a plan guided by Lagrangian prices).
    PlanPriced(&'a [i64]),
    /// The plan objective's change per candidate order served (see [`Delta`]); chains are
    /// decomposed.
    Delta(&'a [Delta]),
}

/// What serving one candidate order is worth to the whole plan, beyond this commodity: orders
/// served (first level), upgrades (second level, fewer is better) and a small bonus for keeping
/// an order where it is (below upgrades, above relocation). A free order for an upgrade car is
/// `{orders: 1, upgrades: 1}`; an order another commodity serves by upgrade, taken by a car of
/// its own model, is `{orders: 0, upgrades: -1}` (it was served already, the upgrade goes away);
/// an own order that another car could take directly is worth keeping only by the upgrade it
/// avoids there. Relocation and previous-plan links break the remaining ties, as in [`solve`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    pub orders: i64,
    pub upgrades: i64,
    pub keep: i64,
}

/// Like [`solve`], but serving candidate `i` is worth `delta[i]` instead of one order less its
/// upgrade (its fields are expected to be small: -2..=2).
pub fn solve_delta(ctx: &Ctx, cars: &[usize], jobs: &[usize], delta: &[Delta], usage: &mut [i64]) -> Vec<Vec<usize>> {
    run(ctx, cars, jobs, usage, Mode::Delta(delta), None).0
}

/// The relaxation used for the upper bound: all `cars` treated as one commodity able to serve
/// every order in `jobs` (models and, for more than one car, blocked windows ignored). Returns
/// the maximum number of orders served — at least what any feasible plan of these cars serves
/// of these orders.
pub fn max_served_relaxed(ctx: &Ctx, cars: &[usize], jobs: &[usize]) -> Vec<bool> {
    let mut usage = vec![0; ctx.p.cars.len()];
    run(ctx, cars, jobs, &mut usage, Mode::Count, None).1
}

fn run(
    ctx: &Ctx,
    cars: &[usize],
    jobs: &[usize],
    usage: &mut [i64],
    mode: Mode,
    keep: Option<&mut Option<Sub>>,
) -> (Vec<Vec<usize>>, Vec<bool>) {
    let relaxed = !matches!(mode, Mode::Plan | Mode::PlanPriced(_) | Mode::Delta(_));
    let p = ctx.p;
    let ns = p.stations.len();
    let single = cars.len() == 1;
    let mut chains = vec![Vec::new(); cars.len()];
    if cars.is_empty() || jobs.is_empty() {
        return (chains, vec![false; jobs.len()]);
    }
    let model = p.cars[cars[0]].model;
    let nj = jobs.len();
    // Local index of each candidate order. Every caller passes `jobs` ascending (filtered from
    // all orders in index order), and then a binary search finds it; a map otherwise (the last
    // index of an order given twice, as before).
    let ascending = jobs.windows(2).all(|w| w[0] < w[1]);
    let mut local_map = std::collections::BTreeMap::new();
    if !ascending {
        for (i, &j) in jobs.iter().enumerate() {
            local_map.insert(j, i);
        }
    }
    let local = |j: usize| -> Option<usize> {
        if ascending {
            jobs.binary_search(&j).ok()
        } else {
            local_map.get(&j).copied()
        }
    };

    // Timeline events per station: a car becomes ready there (kind 0) or leaves there for a
    // pickup (kind 1); ready before leave at the same moment, as `free == leave` is allowed.
    // Each event names what it is for (`Event`), so that one sweep in time order gives every
    // start, return and departure its timeline node, with no search per arc.
    let mut events: Vec<Vec<(i64, u8, Event)>> = vec![Vec::new(); ns];
    let mut earliest = vec![i64::MAX; ns];
    for (ci, &c) in cars.iter().enumerate() {
        let s = ctx.start[c];
        events[s.station].push((s.ready, 0, Event::Start(ci)));
        earliest[s.station] = earliest[s.station].min(s.ready);
    }
    for (i, &j) in jobs.iter().enumerate() {
        let o = &p.jobs[j];
        let r = p.ready_after(j);
        events[o.return_station].push((r, 0, Event::Back(i)));
        earliest[o.return_station] = earliest[o.return_station].min(r);
    }
    // Departures (station, local order, leave time).
    let mut deps: Vec<(usize, usize, i64)> = Vec::with_capacity(nj * ns);
    for (i, &j) in jobs.iter().enumerate() {
        let o = &p.jobs[j];
        for a in 0..ns {
            let t = o.pickup_at - p.travel(a, o.pickup_station);
            if t < earliest[a] {
                continue;
            }
            if single && p.leave_time(cars[0], a, t, j).is_none() {
                continue;
            }
            events[a].push((t, 1, Event::Leave(deps.len())));
            deps.push((a, i, t));
        }
    }
    // One timeline node per run of "ready" events and the departures after it: every car
    // ready within the run may take every departure up to the next run, so nothing is lost by
    // merging them. Its key for the topological order is the run's last ready moment. Events
    // at the same moment and of the same kind fall into the same run, whatever they are for.
    let mut gtime: Vec<Vec<i64>> = vec![Vec::new(); ns];
    // Per start, return and departure: (station, run at that station), when there is one.
    let mut start_run: Vec<Option<(usize, usize)>> = vec![None; cars.len()];
    let mut back_run: Vec<Option<(usize, usize)>> = vec![None; nj];
    let mut dep_run: Vec<Option<(usize, usize)>> = vec![None; deps.len()];
    for a in 0..ns {
        // By moment and kind only: what events of the same moment and kind are for does not
        // change their run.
        events[a].sort_unstable_by_key(|&(t, kind, _)| (t, kind));
        let mut last_kind = 1u8;
        for &(t, kind, what) in &events[a] {
            if kind == 0 {
                if last_kind == 1 {
                    gtime[a].push(t);
                } else if let Some(g) = gtime[a].last_mut() {
                    *g = t;
                }
            }
            last_kind = kind;
            let run = gtime[a].len().checked_sub(1).map(|g| (a, g));
            match what {
                Event::Start(ci) => start_run[ci] = run,
                Event::Back(i) => back_run[i] = run,
                Event::Leave(d) => dep_run[d] = run,
            }
        }
    }
    let mut tl_base = vec![0usize; ns + 1];
    for a in 0..ns {
        tl_base[a + 1] = tl_base[a] + gtime[a].len();
    }
    let tl_index = |run: Option<(usize, usize)>| run.map(|(a, g)| tl_base[a] + g);

    // Previous links among the candidates.
    let mut car_links: Vec<(usize, usize)> = Vec::new(); // (car local, order local)
    // Links matter only for the plan objective.
    let link_cars: &[usize] = if relaxed { &[] } else { cars };
    let link_jobs: &[usize] = if relaxed { &[] } else { jobs };
    for (ci, &c) in link_cars.iter().enumerate() {
        if let Some(j) = ctx.prev_first[c]
            && let Some(jl) = local(j)
        {
            let s = ctx.start[c];
            if p.leave_time(c, s.station, s.ready, j).is_some() {
                car_links.push((ci, jl));
            }
        }
    }
    let mut job_links: Vec<(usize, usize)> = Vec::new(); // (from local, to local)
    for (il, &i) in link_jobs.iter().enumerate() {
        if let Some(j) = ctx.prev_next[i]
            && let Some(jl) = local(j)
        {
            let from = p.jobs[i].return_station;
            let ok = if single {
                p.leave_time(cars[0], from, p.ready_after(i), j).is_some()
            } else {
                let o = &p.jobs[j];
                p.ready_after(i) <= o.pickup_at - p.travel(from, o.pickup_station)
            };
            if ok {
                job_links.push((il, jl));
            }
        }
    }
    let w = if relaxed {
        // Only the count matters for the bound.
        Weights {
            serve: 1,
            upgrade: 0,
            reloc: 0,
            link: 0,
        }
    } else {
        weights(nj, car_links.len() + job_links.len(), ctx.max_travel)
    };

    // Nodes in topological order: sort by (time, class).
    let mut keys: Vec<(i64, u8, usize, Kind)> = Vec::with_capacity(2 + cars.len() + tl_base[ns] + 2 * nj);
    keys.push((i64::MIN, 0, 0, Kind::Source));
    for (ci, &c) in cars.iter().enumerate() {
        keys.push((ctx.start[c].ready, 0, ci, Kind::Car(ci)));
    }
    for a in 0..ns {
        for (k, &t) in gtime[a].iter().enumerate() {
            keys.push((t, 1, tl_base[a] + k, Kind::Timeline(a, k)));
        }
    }
    for (i, &j) in jobs.iter().enumerate() {
        keys.push((p.jobs[j].pickup_at, 2, i, Kind::In(i)));
        keys.push((p.jobs[j].pickup_at, 3, i, Kind::Out(i)));
    }
    keys.push((i64::MAX, 4, 0, Kind::Sink));
    // The keys are distinct, so the unstable sort gives the one order there is.
    keys.sort_unstable_by_key(|k| (k.0, k.1, k.2));
    let nn = keys.len();
    let mut car_node = vec![0usize; cars.len()];
    let mut tl_node = vec![0usize; tl_base[ns]];
    let mut in_node = vec![0usize; nj];
    let mut out_node = vec![0usize; nj];
    for (idx, k) in keys.iter().enumerate() {
        match k.3 {
            Kind::Car(ci) => car_node[ci] = idx,
            Kind::Timeline(a, kk) => tl_node[tl_base[a] + kk] = idx,
            Kind::In(i) => in_node[i] = idx,
            Kind::Out(i) => out_node[i] = idx,
            Kind::Source | Kind::Sink => {}
        }
    }
    let sink = nn - 1;
    let many = cars.len() as i32;
    let mut net = Network::new(nn);
    net.reserve(2 * cars.len() + car_links.len() + tl_base[ns] + deps.len() + 2 * nj + job_links.len());
    const NONE: usize = usize::MAX;
    let mut src_arc = vec![NONE; cars.len()];
    let mut start_arc = vec![NONE; cars.len()];
    for ci in 0..cars.len() {
        src_arc[ci] = net.add_arc(0, car_node[ci], 1, 0).unwrap_or(NONE);
        if let Some(t) = tl_index(start_run[ci]) {
            start_arc[ci] = net.add_arc(car_node[ci], tl_node[t], 1, 0).unwrap_or(NONE);
        }
    }
    let mut car_link_arc = Vec::with_capacity(car_links.len());
    for &(ci, jl) in &car_links {
        let c = cars[ci];
        let o = &p.jobs[jobs[jl]];
        let cost = w.reloc * p.travel(ctx.start[c].station, o.pickup_station) - w.link;
        car_link_arc.push(net.add_arc(car_node[ci], in_node[jl], 1, cost).unwrap_or(NONE));
    }
    for a in 0..ns {
        for k in 0..gtime[a].len() {
            let u = tl_node[tl_base[a] + k];
            let v = if k + 1 < gtime[a].len() {
                tl_node[tl_base[a] + k + 1]
            } else {
                sink
            };
            net.add_arc(u, v, many, 0);
        }
    }
    let mut dep_arc = Vec::with_capacity(deps.len());
    for (d, &(a, i, _)) in deps.iter().enumerate() {
        let o = &p.jobs[jobs[i]];
        let id = match tl_index(dep_run[d]) {
            Some(tn) => net
                .add_arc(tl_node[tn], in_node[i], 1, w.reloc * p.travel(a, o.pickup_station))
                .unwrap_or(NONE),
            None => NONE,
        };
        dep_arc.push(id);
    }
    let mut serve_arc = vec![NONE; nj];
    let mut back_arc = vec![NONE; nj];
    for (i, &j) in jobs.iter().enumerate() {
        let o = &p.jobs[j];
        let upg = if p.serves(model, o.model) == Serves::Upgrade {
            w.upgrade
        } else {
            0
        };
        let reward = match mode {
            Mode::Weighted(weight) | Mode::PlanPriced(weight) => weight.get(i).copied().unwrap_or(0),
            Mode::Delta(delta) => {
                let d = delta.get(i).copied().unwrap_or_default();
                // A kept order outweighs any relocation its removal could save (at most two
                // legs), so orders are not dropped for relocation alone.
                let keep = w.reloc.saturating_mul(2 * ctx.max_travel + 1);
                d.orders
                    .saturating_mul(w.serve)
                    .saturating_sub(d.upgrades.saturating_mul(w.upgrade))
                    .saturating_add(d.keep.saturating_mul(keep))
            }
            _ => w.serve - upg,
        };
        serve_arc[i] = net.add_arc(in_node[i], out_node[i], 1, -reward).unwrap_or(NONE);
        if let Some(t) = tl_index(back_run[i]) {
            back_arc[i] = net.add_arc(out_node[i], tl_node[t], 1, 0).unwrap_or(NONE);
        }
    }
    let mut job_link_arc = Vec::with_capacity(job_links.len());
    for &(il, jl) in &job_links {
        let from = p.jobs[jobs[il]].return_station;
        let o = &p.jobs[jobs[jl]];
        let cost = w.reloc * p.travel(from, o.pickup_station) - w.link;
        job_link_arc.push(net.add_arc(out_node[il], in_node[jl], 1, cost).unwrap_or(NONE));
    }

    if single {
        let (dist, prev) = net.dag_shortest();
        if dist[sink] < 0 {
            net.push_path(&prev, sink);
        }
    } else {
        net.min_cost_flow();
    }
    let used = |id: usize| id != NONE && net.flow(id) > 0;
    let served: Vec<bool> = (0..nj).map(|i| used(serve_arc[i])).collect();
    if relaxed {
        if let Some(k) = keep {
            *k = Some(Sub {
                net,
                serve_arc,
                single,
                sink,
                served: served.clone(),
            });
        }
        return (chains, served);
    }

    // Decompose: which way each served order is entered and left.
    let mut link_next: Vec<Option<usize>> = vec![None; nj];
    let mut linked_in = vec![false; nj];
    for (k, &(il, jl)) in job_links.iter().enumerate() {
        if used(job_link_arc[k]) && served[il] && served[jl] {
            link_next[il] = Some(jl);
            linked_in[jl] = true;
        }
    }
    let mut car_first: Vec<Option<usize>> = vec![None; cars.len()];
    for (k, &(ci, jl)) in car_links.iter().enumerate() {
        if used(car_link_arc[k]) && served[jl] {
            car_first[ci] = Some(jl);
            linked_in[jl] = true;
        }
    }
    // Events: (time, kind, seq): kind 0 = a car becomes ready at a station, 1 = a departure.
    // Ready before leave at the same moment, as FORMAT.md allows `free == leave`.
    let mut heap: BinaryHeap<Reverse<(i64, u8, usize, usize)>> = BinaryHeap::new();
    let mut pool: Vec<Vec<usize>> = vec![Vec::new(); ns];
    let mut assigned: Vec<Option<usize>> = vec![None; nj];
    let assign_chain = |ci: usize,
                        first: usize,
                        chains: &mut Vec<Vec<usize>>,
                        heap: &mut BinaryHeap<Reverse<(i64, u8, usize, usize)>>,
                        assigned: &mut Vec<Option<usize>>,
                        usage: &mut [i64]| {
        let mut cur = Some(first);
        while let Some(jl) = cur {
            if assigned[jl].is_some() {
                break;
            }
            assigned[jl] = Some(ci);
            let j = jobs[jl];
            chains[ci].push(j);
            usage[cars[ci]] += p.jobs[j].return_at - p.jobs[j].pickup_at;
            cur = link_next[jl];
            if cur.is_none() && used(back_arc[jl]) {
                let o = &p.jobs[j];
                heap.push(Reverse((p.ready_after(j), 0, o.return_station, ci)));
            }
        }
    };
    for (ci, &c) in cars.iter().enumerate() {
        if !used(src_arc[ci]) {
            continue;
        }
        if let Some(jl) = car_first[ci] {
            assign_chain(ci, jl, &mut chains, &mut heap, &mut assigned, usage);
        } else if used(start_arc[ci]) {
            let s = ctx.start[c];
            heap.push(Reverse((s.ready, 0, s.station, ci)));
        }
    }
    for (k, &(a, i, t)) in deps.iter().enumerate() {
        if used(dep_arc[k]) && served[i] && !linked_in[i] {
            heap.push(Reverse((t, 1, a, i)));
        }
    }
    while let Some(Reverse((_, kind, a, x))) = heap.pop() {
        if kind == 0 {
            pool[a].push(x);
            continue;
        }
        let jl = x;
        let j = jobs[jl];
        if pool[a].is_empty() {
            continue;
        }
        // Keep the order on its previous car when that car is here; else spread usage evenly
        // (objective 5): the least-used car, then the lowest index.
        let pick = pool[a]
            .iter()
            .enumerate()
            .min_by_key(|&(_, &ci)| {
                let keep = ctx.prev_car[j] == Some(cars[ci]);
                (!keep, usage[cars[ci]], cars[ci])
            })
            .map(|(k, _)| k)
            .unwrap_or(0);
        let ci = pool[a].swap_remove(pick);
        assign_chain(ci, jl, &mut chains, &mut heap, &mut assigned, usage);
    }
    // Safety net: keep only what verifies (the construction should make this a no-op).
    for (ci, chain) in chains.iter_mut().enumerate() {
        let c = cars[ci];
        let s = ctx.start[c];
        let (mut at, mut ready) = (s.station, s.ready);
        chain.retain(|&j| {
            if p.serves(p.cars[c].model, p.jobs[j].model) == Serves::No {
                return false;
            }
            match p.leave_time(c, at, ready, j) {
                Some(_) => {
                    at = p.jobs[j].return_station;
                    ready = p.ready_after(j);
                    true
                }
                None => false,
            }
        });
    }
    (chains, served)
}
