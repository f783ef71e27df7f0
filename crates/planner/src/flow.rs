//! Min-cost flow, written here because no well-kept pure-Rust crate with a permissive licence
//! offers one (rs-graph is GPL, mcmf builds LEMON's C++).
//!
//! [`Network::min_cost_flow`] is a primal network simplex (spanning-tree structure with
//! thread / reverse-thread / subtree-size lists and block-search pricing, after LEMON's
//! `NetworkSimplex`), solving a min-cost circulation: the flow of any value from the source
//! (node 0) to the sink (the last node) of least cost — negative arc costs are rewards for
//! served orders. [`Network::min_cost_flow_ssp`] (successive shortest paths) is kept as an
//! independent reference for tests. Nodes must be added so that every arc goes from a lower to a
//! higher index (the networks are DAGs in time order); `add_arc` refuses other arcs, which also
//! lets [`Network::dag_shortest`] solve the single-car case in one pass.
//!
//! Deterministic: pricing scans arcs in index order, ties keep the first arc found.

const NIL: usize = usize::MAX;
/// Capacity standing for "unbounded"; far above any flow here (at most one unit per car).
const INF_CAP: i64 = 1 << 40;

#[derive(Debug, Clone)]
pub struct Network {
    nodes: usize,
    from: Vec<usize>,
    to: Vec<usize>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    flow: Vec<i64>,
    /// The optimal basis of the last solve: a later solve after cost changes starts from it.
    basis: Option<Box<Simplex>>,
    /// Out-arc lists (`out_lists`), kept between shortest-path solves after cost changes.
    csr: Option<(Vec<usize>, Vec<usize>)>,
}

impl Network {
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            from: Vec::new(),
            to: Vec::new(),
            cap: Vec::new(),
            cost: Vec::new(),
            flow: Vec::new(),
            basis: None,
            csr: None,
        }
    }

    /// Changes the cost of arc `id`; the next solve warm-starts from the last basis.
    pub fn set_cost(&mut self, id: usize, cost: i64) {
        if let Some(c) = self.cost.get_mut(id) {
            *c = cost;
        }
    }

    /// Adds an arc and returns its id, or `None` when it would break the topological order
    /// (a caller bug that must not panic; the arc is then simply left out).
    pub fn add_arc(&mut self, from: usize, to: usize, cap: i32, cost: i64) -> Option<usize> {
        if from >= to || to >= self.nodes {
            return None;
        }
        // A new arc invalidates the stored basis and out-arc lists.
        self.basis = None;
        self.csr = None;
        self.from.push(from);
        self.to.push(to);
        self.cap.push(i64::from(cap.max(0)));
        self.cost.push(cost);
        self.flow.push(0);
        Some(self.from.len() - 1)
    }

    /// Flow on arc `id` after a solve.
    pub fn flow(&self, id: usize) -> i64 {
        self.flow.get(id).copied().unwrap_or(0)
    }

    fn out_lists(&self) -> (Vec<usize>, Vec<usize>) {
        // Compressed out-arc lists (arc ids grouped by tail, in id order).
        let mut start = vec![0usize; self.nodes + 1];
        for &f in &self.from {
            start[f + 1] += 1;
        }
        for i in 0..self.nodes {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut arcs = vec![0usize; self.from.len()];
        for (e, &f) in self.from.iter().enumerate() {
            arcs[fill[f]] = e;
            fill[f] += 1;
        }
        (start, arcs)
    }

    /// Shortest path costs from the source (node 0), and the arc into each node on it; the
    /// single-car case, where one path is the whole answer.
    pub fn dag_shortest(&mut self) -> (Vec<i64>, Vec<usize>) {
        const INF: i64 = i64::MAX / 4;
        let n = self.nodes;
        let mut dist = vec![INF; n];
        let mut prev = vec![NIL; n];
        if n == 0 {
            return (dist, prev);
        }
        let (start, arcs) = match self.csr.take() {
            Some(x) => x,
            None => self.out_lists(),
        };
        dist[0] = 0;
        for u in 0..n {
            if dist[u] == INF {
                continue;
            }
            for &e in &arcs[start[u]..start[u + 1]] {
                if self.cap[e] > 0 {
                    let v = self.to[e];
                    let d = dist[u] + self.cost[e];
                    if d < dist[v] {
                        dist[v] = d;
                        prev[v] = e;
                    }
                }
            }
        }
        self.csr = Some((start, arcs));
        (dist, prev)
    }

    /// Puts one unit of flow on the path `dag_shortest` found into `sink` (and none elsewhere).
    pub fn push_path(&mut self, prev: &[usize], sink: usize) {
        self.flow.iter_mut().for_each(|f| *f = 0);
        let mut v = sink;
        let mut guard = 0usize;
        while v != 0 && guard <= prev.len() {
            let Some(&e) = prev.get(v) else { return };
            if e == NIL {
                return;
            }
            self.flow[e] += 1;
            v = self.from[e];
            guard += 1;
        }
    }

    /// The min-cost flow of any value from the source to the sink, by network simplex; sets
    /// the arc flows and returns the total cost.
    pub fn min_cost_flow(&mut self) -> i64 {
        let n = self.nodes;
        if n < 2 {
            return 0;
        }
        let m = self.from.len();
        let mut s = match self.basis.take() {
            Some(mut s) => {
                // Warm start: same arcs and capacities, so the last flow is still feasible;
                // new costs only change the potentials, recomputed along the tree.
                s.cost[..m].copy_from_slice(&self.cost);
                s.recompute_potentials();
                s
            }
            None => Box::new(self.initial_basis()),
        };
        // Each pivot strictly improves or is degenerate; the strongly feasible tree rules
        // (`<` then `<=` in the ratio test) prevent cycling. The cap is a safety net only.
        let max_pivots = 50 * s.src.len() + 1000;
        let mut pivots = 0usize;
        while pivots < max_pivots && s.find_entering_arc() {
            pivots += 1;
            s.find_join_node();
            let change = s.find_leaving_arc();
            if s.delta >= INF_CAP {
                // An unbounded negative cycle cannot exist in a DAG plus one return arc of
                // cost 0; stop rather than loop.
                break;
            }
            s.change_flow(change);
            if change {
                s.update_tree();
                s.update_potential();
            }
        }
        self.flow.copy_from_slice(&s.flow[..m]);
        self.basis = Some(s);
        (0..m).map(|e| self.flow[e] * self.cost[e]).sum()
    }

    /// The first basis: every real arc at its lower bound, plus sink → source (so any flow
    /// value is allowed), plus one artificial arc per node into an extra root, which carries no
    /// flow because nothing leaves the root; the artificial arcs form the spanning tree.
    fn initial_basis(&self) -> Simplex {
        let n = self.nodes;
        let m = self.from.len();
        let root = n;
        let total_arcs = m + 1 + n;
        let mut src = Vec::with_capacity(total_arcs);
        let mut tgt = Vec::with_capacity(total_arcs);
        let mut cap = Vec::with_capacity(total_arcs);
        let mut cost = Vec::with_capacity(total_arcs);
        src.extend_from_slice(&self.from);
        tgt.extend_from_slice(&self.to);
        cap.extend_from_slice(&self.cap);
        cost.extend_from_slice(&self.cost);
        src.push(n - 1);
        tgt.push(0);
        cap.push(INF_CAP);
        cost.push(0);
        let search = m + 1;
        for u in 0..n {
            src.push(u);
            tgt.push(root);
            cap.push(INF_CAP);
            cost.push(0);
        }
        let mut s = Simplex {
            src,
            tgt,
            cap,
            cost,
            flow: vec![0; total_arcs],
            state: vec![LOWER; total_arcs],
            parent: vec![NIL; n + 1],
            pred: vec![NIL; n + 1],
            pred_up: vec![true; n + 1],
            thread: vec![0; n + 1],
            rev_thread: vec![0; n + 1],
            succ_num: vec![1; n + 1],
            last_succ: vec![0; n + 1],
            pi: vec![0; n + 1],
            search,
            block: ((search as f64).sqrt().ceil() as usize).max(10),
            next_arc: 0,
            dirty: Vec::new(),
            in_arc: 0,
            join: 0,
            u_in: 0,
            v_in: 0,
            u_out: 0,
            delta: 0,
        };
        s.thread[root] = 0;
        s.rev_thread[0] = root;
        s.succ_num[root] = n + 1;
        s.last_succ[root] = root - 1;
        for u in 0..n {
            let e = m + 1 + u;
            s.parent[u] = root;
            s.pred[u] = e;
            s.thread[u] = u + 1;
            s.rev_thread[u + 1] = u;
            s.succ_num[u] = 1;
            s.last_succ[u] = u;
            s.state[e] = TREE;
            s.pred_up[u] = true;
        }
        s
    }

    /// The same optimum by successive shortest paths (Bellman–Ford on the DAG, then Dijkstra
    /// with potentials); slow on big networks, kept as the reference for tests.
    #[cfg(test)]
    pub fn min_cost_flow_ssp(&mut self) -> i64 {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        const INF: i64 = i64::MAX / 4;
        let n = self.nodes;
        let m = self.from.len();
        let (dist0, _) = self.dag_shortest();
        // Residual arcs 2e (forward) and 2e+1 (backward).
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
        for e in 0..m {
            adj[self.from[e]].push(2 * e);
            adj[self.to[e]].push(2 * e + 1);
        }
        let mut rcap: Vec<i64> = (0..2 * m)
            .map(|a| if a.is_multiple_of(2) { self.cap[a / 2] } else { 0 })
            .collect();
        let head = |a: usize| {
            if a.is_multiple_of(2) {
                self.to[a / 2]
            } else {
                self.from[a / 2]
            }
        };
        let tail = |a: usize| {
            if a.is_multiple_of(2) {
                self.from[a / 2]
            } else {
                self.to[a / 2]
            }
        };
        let rcost = |a: usize| {
            if a.is_multiple_of(2) {
                self.cost[a / 2]
            } else {
                -self.cost[a / 2]
            }
        };
        let mut pot: Vec<i64> = dist0.iter().map(|&d| if d >= INF { 0 } else { d }).collect();
        let mut total = 0;
        loop {
            let mut dist = vec![INF; n];
            let mut prev = vec![NIL; n];
            dist[0] = 0;
            let mut heap = BinaryHeap::new();
            heap.push(Reverse((0i64, 0usize)));
            while let Some(Reverse((d, u))) = heap.pop() {
                if d > dist[u] {
                    continue;
                }
                for &a in &adj[u] {
                    if rcap[a] > 0 {
                        let v = head(a);
                        let nd = d + rcost(a) + pot[u] - pot[v];
                        if nd < dist[v] {
                            dist[v] = nd;
                            prev[v] = a;
                            heap.push(Reverse((nd, v)));
                        }
                    }
                }
            }
            let t = n - 1;
            if dist[t] >= INF || dist[t] + pot[t] - pot[0] >= 0 {
                break;
            }
            total += dist[t] + pot[t] - pot[0];
            for v in 0..n {
                if dist[v] < INF {
                    pot[v] += dist[v];
                }
            }
            let mut v = t;
            while v != 0 {
                let a = prev[v];
                rcap[a] -= 1;
                rcap[a ^ 1] += 1;
                v = tail(a);
            }
        }
        for e in 0..m {
            self.flow[e] = rcap[2 * e + 1];
        }
        total
    }
}

const TREE: i8 = 0;
const LOWER: i8 = 1;
const UPPER: i8 = -1;

/// The spanning-tree state of the network simplex. `pred_up[u]`: the tree arc to `u`'s parent
/// goes from `u` to the parent (else from the parent to `u`).
#[derive(Debug, Clone)]
struct Simplex {
    src: Vec<usize>,
    tgt: Vec<usize>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    flow: Vec<i64>,
    state: Vec<i8>,
    parent: Vec<usize>,
    pred: Vec<usize>,
    pred_up: Vec<bool>,
    thread: Vec<usize>,
    rev_thread: Vec<usize>,
    succ_num: Vec<usize>,
    last_succ: Vec<usize>,
    pi: Vec<i64>,
    search: usize,
    block: usize,
    next_arc: usize,
    dirty: Vec<usize>,
    in_arc: usize,
    join: usize,
    u_in: usize,
    v_in: usize,
    u_out: usize,
    delta: i64,
}

impl Simplex {
    /// Potentials from the tree alone: zero at the root, and zero reduced cost on tree arcs.
    fn recompute_potentials(&mut self) {
        let root = self.parent.len() - 1;
        self.pi[root] = 0;
        let mut u = self.thread[root];
        let mut guard = 0usize;
        while u != root && guard < self.parent.len() {
            let p = self.parent[u];
            let c = self.cost[self.pred[u]];
            self.pi[u] = if self.pred_up[u] {
                self.pi[p] - c
            } else {
                self.pi[p] + c
            };
            u = self.thread[u];
            guard += 1;
        }
    }

    /// Block search: the most negative reduced cost within the first block that has one,
    /// scanning from `next_arc` round to it again (the same order as `(next_arc + k) % search`,
    /// without a division per arc; tree arcs have reduced cost 0 and are skipped unread).
    fn find_entering_arc(&mut self) -> bool {
        let search = self.search;
        let mut min = 0i64;
        let mut cnt = self.block;
        let mut found = false;
        let mut e = self.next_arc;
        if e >= search {
            e = 0;
        }
        let (state, cost, src, tgt, pi) = (
            &self.state[..search],
            &self.cost[..search],
            &self.src[..search],
            &self.tgt[..search],
            &self.pi,
        );
        for _ in 0..search {
            let st = state[e];
            if st != TREE {
                let c = i64::from(st) * (cost[e] + pi[src[e]] - pi[tgt[e]]);
                if c < min {
                    min = c;
                    self.in_arc = e;
                    found = true;
                }
            }
            cnt -= 1;
            if cnt == 0 {
                if found {
                    self.next_arc = if e + 1 == search { 0 } else { e + 1 };
                    return true;
                }
                cnt = self.block;
            }
            e += 1;
            if e == search {
                e = 0;
            }
        }
        if found {
            self.next_arc = (self.in_arc + 1) % search;
        }
        found
    }

    fn find_join_node(&mut self) {
        let (mut u, mut v) = (self.src[self.in_arc], self.tgt[self.in_arc]);
        while u != v {
            if self.succ_num[u] < self.succ_num[v] {
                u = self.parent[u];
            } else {
                v = self.parent[v];
            }
        }
        self.join = u;
    }

    /// Ratio test; returns whether a tree arc leaves (else the entering arc just flips bound).
    fn find_leaving_arc(&mut self) -> bool {
        let e_in = self.in_arc;
        let (first, second) = if self.state[e_in] == LOWER {
            (self.src[e_in], self.tgt[e_in])
        } else {
            (self.tgt[e_in], self.src[e_in])
        };
        self.delta = self.cap[e_in];
        let mut result = 0;
        let mut u = first;
        while u != self.join {
            let e = self.pred[u];
            let d = if self.pred_up[u] {
                self.flow[e]
            } else if self.cap[e] >= INF_CAP {
                INF_CAP
            } else {
                self.cap[e] - self.flow[e]
            };
            if d < self.delta {
                self.delta = d;
                self.u_out = u;
                result = 1;
            }
            u = self.parent[u];
        }
        let mut u = second;
        while u != self.join {
            let e = self.pred[u];
            let d = if self.pred_up[u] {
                if self.cap[e] >= INF_CAP {
                    INF_CAP
                } else {
                    self.cap[e] - self.flow[e]
                }
            } else {
                self.flow[e]
            };
            if d <= self.delta {
                self.delta = d;
                self.u_out = u;
                result = 2;
            }
            u = self.parent[u];
        }
        if result == 1 {
            self.u_in = first;
            self.v_in = second;
        } else {
            self.u_in = second;
            self.v_in = first;
        }
        result != 0
    }

    fn change_flow(&mut self, change: bool) {
        let e_in = self.in_arc;
        if self.delta > 0 {
            let val = i64::from(self.state[e_in]) * self.delta;
            self.flow[e_in] += val;
            let mut u = self.src[e_in];
            while u != self.join {
                let e = self.pred[u];
                if self.pred_up[u] {
                    self.flow[e] -= val;
                } else {
                    self.flow[e] += val;
                }
                u = self.parent[u];
            }
            let mut u = self.tgt[e_in];
            while u != self.join {
                let e = self.pred[u];
                if self.pred_up[u] {
                    self.flow[e] += val;
                } else {
                    self.flow[e] -= val;
                }
                u = self.parent[u];
            }
        }
        if change {
            self.state[e_in] = TREE;
            let out = self.pred[self.u_out];
            self.state[out] = if self.flow[out] == 0 { LOWER } else { UPPER };
        } else {
            self.state[e_in] = -self.state[e_in];
        }
    }

    fn update_tree(&mut self) {
        let u_in = self.u_in;
        let v_in = self.v_in;
        let u_out = self.u_out;
        let join = self.join;
        let old_rev_thread = self.rev_thread[u_out];
        let old_succ_num = self.succ_num[u_out];
        let old_last_succ = self.last_succ[u_out];
        let v_out = self.parent[u_out];

        if u_in == u_out {
            self.parent[u_in] = v_in;
            self.pred[u_in] = self.in_arc;
            self.pred_up[u_in] = u_in == self.src[self.in_arc];
            if self.thread[v_in] != u_out {
                let mut after = self.thread[old_last_succ];
                self.thread[old_rev_thread] = after;
                self.rev_thread[after] = old_rev_thread;
                after = self.thread[v_in];
                self.thread[v_in] = u_out;
                self.rev_thread[u_out] = v_in;
                self.thread[old_last_succ] = after;
                self.rev_thread[after] = old_last_succ;
            }
        } else {
            let thread_continue = if old_rev_thread == v_in {
                self.thread[old_last_succ]
            } else {
                self.thread[v_in]
            };
            let mut stem = u_in;
            let mut par_stem = v_in;
            let mut last = self.last_succ[u_in];
            let mut after = self.thread[last];
            self.thread[v_in] = u_in;
            self.dirty.clear();
            self.dirty.push(v_in);
            while stem != u_out {
                let next_stem = self.parent[stem];
                self.thread[last] = next_stem;
                self.dirty.push(last);
                let before = self.rev_thread[stem];
                self.thread[before] = after;
                self.rev_thread[after] = before;
                self.parent[stem] = par_stem;
                par_stem = stem;
                stem = next_stem;
                last = if self.last_succ[stem] == self.last_succ[par_stem] {
                    self.rev_thread[par_stem]
                } else {
                    self.last_succ[stem]
                };
                after = self.thread[last];
            }
            self.parent[u_out] = par_stem;
            self.thread[last] = thread_continue;
            self.rev_thread[thread_continue] = last;
            self.last_succ[u_out] = last;
            if old_rev_thread != v_in {
                self.thread[old_rev_thread] = after;
                self.rev_thread[after] = old_rev_thread;
            }
            for i in 0..self.dirty.len() {
                let u = self.dirty[i];
                let t = self.thread[u];
                self.rev_thread[t] = u;
            }
            let mut tmp_sc: isize = 0;
            let tmp_ls = self.last_succ[u_out];
            let mut u = u_out;
            while u != u_in {
                let p = self.parent[u];
                self.pred[u] = self.pred[p];
                self.pred_up[u] = !self.pred_up[p];
                tmp_sc += self.succ_num[u] as isize - self.succ_num[p] as isize;
                self.succ_num[u] = tmp_sc as usize;
                self.last_succ[p] = tmp_ls;
                u = p;
            }
            self.pred[u_in] = self.in_arc;
            self.pred_up[u_in] = u_in == self.src[self.in_arc];
            self.succ_num[u_in] = old_succ_num;
        }

        let up_limit_out = if self.last_succ[join] == v_in { join } else { NIL };
        let last_succ_out = self.last_succ[u_out];
        let mut u = v_in;
        while u != NIL && self.last_succ[u] == v_in {
            self.last_succ[u] = last_succ_out;
            u = self.parent[u];
        }
        if join != old_rev_thread && v_in != old_rev_thread {
            let mut u = v_out;
            while u != up_limit_out && u != NIL && self.last_succ[u] == old_last_succ {
                self.last_succ[u] = old_rev_thread;
                u = self.parent[u];
            }
        } else if last_succ_out != old_last_succ {
            let mut u = v_out;
            while u != up_limit_out && u != NIL && self.last_succ[u] == old_last_succ {
                self.last_succ[u] = last_succ_out;
                u = self.parent[u];
            }
        }
        let mut u = v_in;
        while u != join {
            self.succ_num[u] += old_succ_num;
            u = self.parent[u];
        }
        let mut u = v_out;
        while u != join {
            self.succ_num[u] -= old_succ_num;
            u = self.parent[u];
        }
    }

    fn update_potential(&mut self) {
        let c = self.cost[self.in_arc];
        let dir_cost = if self.pred_up[self.u_in] { c } else { -c };
        let sigma = self.pi[self.v_in] - self.pi[self.u_in] - dir_cost;
        let end = self.thread[self.last_succ[self.u_in]];
        let mut u = self.u_in;
        while u != end {
            self.pi[u] += sigma;
            u = self.thread[u];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator, so the test needs no dependency.
    fn lcg(x: &mut u64) -> u64 {
        *x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *x >> 33
    }

    #[test]
    fn network_simplex_matches_successive_shortest_paths_on_random_dags() {
        let mut seed = 42u64;
        for round in 0..400 {
            let n = 2 + (lcg(&mut seed) % 30) as usize;
            let arcs = (lcg(&mut seed) % (3 * n as u64 + 1)) as usize;
            let mut a = Network::new(n);
            for _ in 0..arcs {
                let u = (lcg(&mut seed) % n as u64) as usize;
                let v = (lcg(&mut seed) % n as u64) as usize;
                let cap = 1 + (lcg(&mut seed) % 3) as i32;
                let cost = (lcg(&mut seed) % 40) as i64 - 25;
                a.add_arc(u.min(v), u.max(v), cap, cost);
            }
            let mut b = a.clone();
            let ns = a.min_cost_flow();
            let ssp = b.min_cost_flow_ssp();
            assert_eq!(ns, ssp, "round {round}");
            // Warm start after cost changes gives the fresh optimum too.
            for e in 0..a.from.len() {
                if lcg(&mut seed).is_multiple_of(2) {
                    a.set_cost(e, (lcg(&mut seed) % 40) as i64 - 25);
                }
            }
            let mut fresh = a.clone();
            fresh.basis = None;
            let warm = a.min_cost_flow();
            assert_eq!(warm, fresh.min_cost_flow_ssp(), "warm round {round}");
            // Conservation at every inner node, capacities respected.
            let mut bal = vec![0i64; n];
            for e in 0..a.from.len() {
                assert!(a.flow[e] >= 0 && a.flow[e] <= a.cap[e]);
                bal[a.from[e]] -= a.flow[e];
                bal[a.to[e]] += a.flow[e];
            }
            assert!(bal[1..n - 1].iter().all(|&x| x == 0), "round {round}");
        }
    }
}
