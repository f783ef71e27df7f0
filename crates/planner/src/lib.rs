//! # rentops-planner
//!
//! Assigns cars to rental orders for the rentops `fleet` service. Instances and plans are the
//! JSON files of this crate's `FORMAT.md`; the objective is the "Scheduling" order of
//! `docs/domain.md`:
//! (1) serve as many orders as possible, (2) with the fewest upgrades, (3) the fewest relocation
//! minutes, (4) moving as few assignments of `previous_plan` as possible, (5) spreading usage.
//!
//! ```no_run
//! # fn main() -> Result<(), rentops_planner::PlanError> {
//! let instance = rentops_planner::Instance::from_json("{...}")?;
//! let outcome = rentops_planner::plan(&instance, &rentops_planner::PlanOptions::default())?;
//! println!("{}", outcome.plan.to_json());
//! # Ok(()) }
//! ```
//!
//! ## The model
//!
//! A car serves a chain of orders in pickup order; order j may follow order i (or the car's
//! start) when the car, ready at `return_i + turnaround` at `return_station_i`, leaves at
//! `pickup_j - travel` no earlier, and the span from leaving until `return_j + turnaround`
//! touches none of the car's blocked windows. Without models and windows, choosing chains is a
//! min-cost flow; models make it a multi-commodity flow (a chain's car must serve every order in
//! it) and windows make some cars unique. Integer multi-commodity flow is NP-hard in general
//! (multi-depot vehicle scheduling), and the upgrade relation here is not nested (EC7 serves EC6
//! orders, EC6 serves ES6 orders, but EC7 does not serve ES6), so no single exact flow exists.
//!
//! ## The algorithm
//!
//! * **Commodities.** Cars of one model with no blocked window after their start are
//!   interchangeable except for where and when they start, so they are pooled into one
//!   commodity; each car with a relevant blocked window is a commodity of its own.
//! * **Exact commodity solves** (`commodity`, `flow`). One commodity over a given set of orders
//!   is solved exactly as a min-cost flow in a time-space network: per station a timeline of the
//!   moments a car becomes ready there (start, or return + turnaround) and must leave there for a
//!   pickup (`pickup - travel`, exactly FORMAT.md's rule, so a single car's blocked windows are
//!   checked on each departure arc). Runs of "ready" moments with the departures after them are
//!   merged into one node (nothing is lost: every car ready in the run may take every such
//!   departure), so the network has O(orders × stations) arcs and about one node per order. The
//!   flow is solved by a primal network simplex (block pricing, LEMON-style tree updates, warm
//!   starts after cost changes); a single car needs only one pass in topological order. Costs are
//!   lexicographic big-M weights: served order ≫ upgrade ≫ relocation minute ≫ kept
//!   previous-plan link. Paths become car chains by replaying the timelines in time order,
//!   keeping an order on its previous car when that car is there, else giving it the least-used
//!   car (objective 5).
//! * **Block-coordinate descent** (`solve`). Commodities are solved in turn, most specialised
//!   model first, each over the orders that are free or its own; a solution replaces the current
//!   one only when strictly better, and a commodity is solved again only when another freed an
//!   order it could serve (one taken from the free orders was not in its solution, which stays
//!   optimal). No step makes the lexicographic objective worse.
//! * **Ejection chains.** A free order goes into a car's chain, ejecting one or two neighbouring
//!   orders that must each fit directly into another car; this exchanges orders across
//!   commodities, which block-coordinate steps cannot. Each success serves one more order.
//! * **Reassignment sweeps** (`Search::reassign_sweeps`). Each commodity in turn is solved
//!   exactly over every order it may serve, each priced by what serving it there changes in the
//!   whole plan (`commodity::Delta`): a free order is one order more (less its upgrade); an own
//!   order that some car elsewhere could take directly is worth only the upgrade it avoids; an
//!   order another commodity serves is worth the upgrade it then saves, plus one order when the
//!   gap it leaves lets that car serve a free order. The solution is carried out (taken orders
//!   leave their cars, the gaps go to free orders, the dropped orders are re-placed by ejection
//!   chains) and kept only when it serves more orders, or as many with fewer upgrades. This
//!   moves orders served by upgrade to cars of their own model across commodities, which
//!   neither block-coordinate steps nor ejection chains do (they take the first car an order
//!   fits, whatever its model), and finds the exchanges that serve one more order where a
//!   commodity must give up an order to take another. One sweep of the pooled commodities runs
//!   on every priced recovery of the Lagrangian search (before it is compared), up to
//!   `PlanOptions::reassign_sweeps` of all commodities on the final plan, then
//!   block-coordinate rounds on the commodities changed (relocation).
//!   Not when re-planning, and not above `PlanOptions::reassign_max_orders`.
//! * **Upgrade chains** (`Search::upgrade_chains`, after the final sweeps). Each order served
//!   by upgrade is taken off its car and put into a car of its own model, directly or in place
//!   of one or two of that car's orders, which ejection chains (two levels, the order's old car
//!   included) must serve again; the gaps left go to free orders. Cars are tried by iterative
//!   deepening (every car of the model directly, then each with one level of ejection, then
//!   two), within `PlanOptions::upgrade_chain_budget` trials per order and level, and a move
//!   is kept only when the cars it changed serve more orders, or as many with fewer upgrades.
//!   The sweeps price a displaced order only by a direct fit elsewhere; here it may push
//!   another order on in turn (an `S` order leaves an `L` car for an `S` car, whose order
//!   goes to an `M` car, whose order in turn takes the `L` car's gap).
//! * **Neighbourhood re-solves** (`Search::neighbourhoods`, after the upgrade chains). For
//!   every unserved order, then every order served by upgrade, a few cars around it — the
//!   three that could serve it (only of its own model for an upgraded order) with the fewest
//!   orders clashing with it, and for each clashing order the car that could take that one
//!   best, five cars at most — and a window of a day around the clashes are re-planned
//!   exactly by a small branch-and-bound (`solve::hood`): each of the window's orders (those on
//!   these cars and up to ten free ones nearest in time) goes to one of the cars or stays
//!   unserved; every car keeps its orders outside the window and must still reach the first
//!   one after it. The bound counts the most orders the cars could still take as bare busy
//!   spans, models and drives ignored (earliest end first, each to the car free latest before
//!   it, the greedy that is exact for intervals on identical machines); were it ever to
//!   undercount, the search would only miss a move, never keep a worse plan. Every chain is
//!   verified before it is kept. The best assignment that serves more orders,
//!   or as many with fewer upgrades, replaces the window's, within
//!   `PlanOptions::neighbourhood_nodes` nodes per neighbourhood and a total per plan. This
//!   moves several orders among several cars at once, which neither the ejection chains (one
//!   or two orders, each into one car) nor the upgrade chains do.
//! * **Group re-solves** (`Search::group_resolves`, on the finished plan). Every pool is
//!   re-planned together with the single cars (cars with a blocked window) that may serve its
//!   model, the rest of the plan fixed, over the orders free or theirs: the constraint "each
//!   order once" among them is priced (a Lagrangian relaxation of the group, upgrades costing
//!   1/1024 of an order), starting from the whole plan's Lagrangian prices and reusing its
//!   warm sub-problems, for `PlanOptions::group_iterations` subgradient steps; then the single
//!   cars keep their chains at the prices (what the relaxation is sure of) and the pool is
//!   solved exactly over what is left — first its count and upgrades by a warm solve, its
//!   chains only when that wins. A result is kept when the group serves more orders, or as
//!   many with fewer upgrades; after a kept one the sweeps, upgrade chains, neighbourhoods and
//!   relocation rounds run once more (the recovery takes upgrades and drives they undo), and
//!   the plan before the pass comes back unless the finished plan is better. This is the move
//!   that exchanges orders between single cars and a pool while the pool's flow is re-solved
//!   as a whole (gen:800:240:14's missing order: an ES6 car with a window gives the ES6 pool
//!   an order and takes two of its orders spread over three days, an ES7 car with a window
//!   takes a third by upgrade, and the pool serves a free order in their place), which moves
//!   changing a few cars in a time window cannot reach and the sweeps do not price. Only after
//!   a Lagrangian search, not when re-planning.
//! * **Pair exchanges** (`Search::pair_exchanges`, after the group re-solves). For every two
//!   pools where one (the taker) may serve orders the other (the giver) serves by upgrade,
//!   those orders are offered to the taker, each worth one order less its upgrade there less
//!   what the giver loses without it — the giver's flow re-solved as a whole without that
//!   order (a warm sub-problem solve per order), so that it may reroute all its cars to serve
//!   a free order, or drop another upgraded one, in its place. The taker is solved exactly at
//!   these weights, the giver over what it left (each taken order alone when several together
//!   fail), and the result kept when the pair serves more orders, or as many with fewer
//!   upgrades. Then **two-way swaps** on what those leave: the taker solved at the same
//!   weights without one of its own orders that the giver (a pool, or a single car holding an
//!   order by upgrade) may serve — one it serves by upgrade and that overlaps an offered order,
//!   or one that fits into an offered order's gap while an offered order fits into its own —
//!   and the giver over what is left, that order included; the first swap that serves more, or
//!   as many with fewer upgrades, is kept (at most 5 tried per pair). Then the relocation
//!   rounds on the pools changed, and the plan before comes back unless the finished one is
//!   better. This is the exchange between two pools that the sweeps price only by a direct
//!   refill of the gap, and that no move of a few cars reaches (gen:2000:600:16: two upgrades
//!   fewer; the swaps: city-3days 37 → 35 and gen:300:90:12 27 → 26, both the MILP minimum).
//!   Not when re-planning (`PlanOptions::pair_exchanges`).
//! * **Family LPs** (`Search::family_lps`, after the group re-solves, before the pair
//!   exchanges). The commodities of each family of models (commodities that may serve a
//!   common order model; on the city's upgrade ladder the ET models and the ES/EC models) —
//!   its pools and its single cars — are re-planned together, the rest of the plan fixed, by
//!   one mixed-integer program over their time-space networks — per commodity and station a
//!   node at each moment a car arrives there (a start, or a return plus turnaround) that some
//!   departure hangs on, a departure arc per order and station hanging on the last arrival
//!   no later than `pickup - travel` (for a single car only where the busy span overlaps
//!   none of its blocked windows), waiting arcs between them, a row "each order at most
//!   once", weights one order ≫ one upgrade — solved by `microlp`: its LP relaxation
//!   (integral on most families measured, i.e. the family's exact optimum), then at most 50
//!   branch-and-bound nodes. Each commodity is solved exactly over its share (relocation, car
//!   choice), every chain verified, and the result kept when the family serves more orders,
//!   or as many with fewer upgrades (not tried where the program's bound is no better than
//!   the current plan); then the local moves and relocation rounds again, and the plan
//!   before comes back unless the finished plan is better. This re-solves a whole family at
//!   once, where the pair exchanges see two pools and price one order at a time and the group
//!   re-solves one pool (on generated instances of 200–800 orders the optimum in orders on
//!   all 15 measured and in orders and upgrades on 13; see RESULTS.md). The program grows
//!   about with the square of the family's open orders and with its number of commodities
//!   (a single car's network is as large as a pool's), so a family is solved only with at
//!   most `PlanOptions::family_lp_orders` open orders and 8 times as many pairs of a
//!   commodity and an order it may serve; a family too large, or whose program gives no
//!   solution (its nodes ran out first), has its pools re-planned alone, by families of
//!   their own, the single cars fixed. The families' programs are independent (no order is
//!   open to two) and are solved side by side, a thread each up to the machine's cores; the
//!   plan is the same on one core. City-3days's families (about 1,000 orders each) are not
//!   solved. Not when re-planning.
//! * **Lagrangian search** (`bound::lagrangian`). Pricing the constraint "each order is served
//!   once" decouples the commodities; each is solved exactly for the priced weights (network
//!   simplex warm-started between iterations), which bounds the optimum — the bound's limit is
//!   the LP bound of the multi-commodity flow. Every few iterations a new plan is built
//!   commodity by commodity with orders worth their priced value, so contested orders go to the
//!   commodities that need them most (block-coordinate steps alone leave the lower models' cars
//!   greedy and the upgrade-capable cars with the leftovers); it is polished and kept when
//!   better. Skipped above `PlanOptions::lagrange_max_orders` plannable orders and when
//!   re-planning, unless proving (then without rebuilding the plan).
//! * **Upper bounds** (`bound`). (a) Per family of models (connected by "may serve"), all cars
//!   pooled into one commodity that may serve any order of the family, blocked windows ignored
//!   for pools of several cars: every feasible plan is feasible for this relaxation, so its exact
//!   max-flow count (plus the frozen orders) bounds `fulfilled`. (b) The best Lagrangian bound.
//! * **Optimality proof** (`bound::prove`, only with `PlanOptions::prove`). A stabilised
//!   cutting-plane method on the Lagrangian function (Dantzig–Wolfe column generation seen from
//!   the dual): every exact sub-problem solution seen is a cut on its commodity's value, the
//!   cuts form an LP over the prices (solved by the pure-Rust `microlp`, warm-started as cuts
//!   are added), and its optimum, smoothed towards the best prices so far, is where the
//!   Lagrangian is evaluated next. It converges to the LP bound of the multi-commodity flow in
//!   tens of evaluations where the subgradient needs hundreds and still falls short. The bound is always the exact
//!   integer evaluation of the Lagrangian at the prices tried, never the LP's floating-point
//!   value, so it holds whatever the LP solver's tolerances.
//! * **Exact search** (`exact`). When few orders are plannable (`PlanOptions::exact_max_orders`),
//!   a branch-and-bound enumerates every plan (orders in pickup order, each appended to a car it
//!   can follow, or left unserved) and returns the lexicographic optimum; when it finishes
//!   within its node budget, optimality is proven.
//!
//! `PlanReport::proven_optimal` is true exactly when the plan's `fulfilled` equals the proven
//! `upper_bound_fulfilled` — from the relaxation, the Lagrangian, its cutting-plane tightening,
//! or a finished exact search — and never otherwise. Integer multi-commodity flow is NP-hard, so
//! on large instances the bounds prove a plan optimal only where the LP bound rounds down to its
//! count. On `city-3days.json`
//! the plan serves 1793 orders (greedy: 1666), and the LP bound is exactly 1793.0: by default
//! the reported bound is 1808 (the family relaxation; the subgradient needs hundreds of
//! iterations to come near the LP bound), with `PlanOptions::prove` it is 1793 — proven optimal,
//! in about 1 s more (see RESULTS.md). Where the plan is not LP-optimal the proof works towards
//! the LP bound (within `PlanOptions::prove_iterations`), which then says how far the plan can
//! be from the optimum at most.
//! Small instances (up to `exact_max_orders` plannable orders) are always solved and proven
//! exactly; the other objectives (upgrades, relocation, stability) are optimised exactly per
//! commodity and by the local searches across commodities (reassignment sweeps, upgrade
//! chains, neighbourhood and group re-solves, family LPs, one-way pair exchanges and two-way
//! swaps): on city-3days 35 upgrades, the fewest among plans serving 1793 (an external MILP
//! solver).
//! Nothing proves the upgrade count minimal on large instances.
//!
//! ## Re-planning and the frozen window
//!
//! With `previous_plan`, each car keeps the previous orders it can still serve (walking its chain
//! in pickup order); only the commodities that lost orders are solved again, and ejection chains
//! re-place the freed orders, moving others only to make room. `plan` always returns a fixed
//! point of those ejection passes, so an unchanged instance comes back unchanged, and a breakdown
//! moves little (a strict lexicographic re-optimisation could move many orders to save a few
//! relocation minutes; re-planning deliberately does not). With `frozen`, previous assignments
//! picked up no later than `now + window_minutes` (including those already picked up) are kept as
//! they are, unless their car can no longer serve them (blocked); their car's plannable chain
//! starts after its last frozen order.
//!
//! ## Guarantees
//!
//! `plan` is pure and deterministic (no clock, no I/O, no hash-order iteration, and the same
//! plan whatever the number of cores the family LPs' threads run on); every plan it
//! returns passes [`check`], the checker of FORMAT.md's rules (and the tests hold it to a second,
//! independent one in Python, `tests/check_plan.py`). Invalid instances give a [`PlanError`]
//! naming the offending id or field; no input panics.

mod bound;
mod check;
mod commodity;
mod error;
mod exact;
mod explain;
mod flow;
mod generate;
mod greedy;
mod model;
mod problem;
mod solve;

pub use check::{PlanReport, check};
pub use error::PlanError;
pub use explain::{Explanation, UnassignedReason};
pub use generate::generate;
pub use greedy::greedy;
pub use model::{Assignment, Frozen, Instance, Order, Plan, Vehicle, Window};

/// Tuning of a planning run; every limit is a count, never a time, so runs are reproducible.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Ejection-chain trials per free order and pass.
    pub ejection_budget: usize,
    /// Lagrangian iterations when the first bound is not met (0: none). Each costs about one
    /// exact solve of every commodity; more iterations tighten the bound and diversify the search.
    pub lagrange_iterations: usize,
    /// Rebuild a plan from the Lagrangian sub-problems every this many iterations (0: never).
    pub recover_every: usize,
    /// Plannable orders above which the Lagrangian search is skipped: its iterations cost about
    /// a full exact solve each, too slow for very large instances in interactive use.
    pub lagrange_max_orders: usize,
    /// Plannable orders up to which the exact branch-and-bound runs.
    pub exact_max_orders: usize,
    /// Nodes the branch-and-bound may visit before giving up.
    pub exact_node_budget: usize,
    /// Try to prove the plan optimal when the bounds above do not: after the Lagrangian search
    /// (which then also runs when re-planning, without rebuilding the plan), a cutting-plane
    /// method drives the Lagrangian bound towards the LP bound of the multi-commodity flow
    /// (`bound::prove`). Skipped, like the Lagrangian search, above `lagrange_max_orders`
    /// plannable orders (its LP grows with them; at 10,000 orders it would take minutes). Off by
    /// default: on city-3days it proves the optimum (1793) but adds about 1 s to the 0.6–0.7 s
    /// plan (see RESULTS.md).
    pub prove: bool,
    /// Exact Lagrangian evaluations the proof may make; each costs about one exact solve of
    /// every commodity plus a few LP re-solves.
    pub prove_iterations: usize,
    /// Reassignment sweeps after the search (0: none): each commodity in turn re-solved
    /// exactly over every order it may serve, priced by what serving it there changes in the
    /// whole plan, which exchanges orders between commodities (`Search::reassign_sweeps`).
    /// Each priced recovery of the Lagrangian search also gets one sweep (of the pooled
    /// commodities) when this is not 0. Not when re-planning, which moves only what it must.
    pub reassign_sweeps: usize,
    /// Plannable orders above which no reassignment sweep runs: a sweep costs about two exact
    /// solves of every commodity, ~9 s at 10,000 orders.
    pub reassign_max_orders: usize,
    /// Ejection-chain trials per upgraded order and level of the upgrade chains that follow
    /// the final reassignment sweeps (0: none): each order served by upgrade is moved to a car
    /// of its own model, pushing that car's orders on to other cars
    /// (`Search::upgrade_chains`), and the move kept when it saves upgrades without serving
    /// fewer orders. Run where the sweeps run.
    pub upgrade_chain_budget: usize,
    /// Branch-and-bound nodes per neighbourhood re-solve after the upgrade chains (0: none):
    /// a few cars around each unserved or upgraded order and a time window around it are
    /// re-planned exactly (`Search::neighbourhoods`), and the result kept when it serves more
    /// orders, or as many with fewer upgrades. Run where the sweeps run.
    pub neighbourhood_nodes: usize,
    /// Subgradient iterations of each group re-solve on the finished plan (0: none): every pool
    /// and the single cars that may serve its model re-planned together by a Lagrangian
    /// relaxation of their shared orders, starting from the whole plan's Lagrangian prices
    /// (`Search::group_resolves`; one plan recovery every 3 iterations). Run where the sweeps
    /// run, and only after a Lagrangian search (whose prices and sub-problems it reuses).
    pub group_iterations: usize,
    /// Pair exchanges on the finished plan: for every two pools of which one may serve orders
    /// the other holds by upgrade, those orders are offered to it, each priced by what the
    /// other pool, re-solved as a whole, loses without it, then two-way swaps (the taker also
    /// hands one of its own orders back; `Search::pair_exchanges`). Run where the sweeps run.
    pub pair_exchanges: bool,
    /// Family LPs on the finished plan, before the pair exchanges: the commodities (pools and
    /// single cars) of every family of models with at most this many orders open to them
    /// (plannable, free or theirs), and at most 8 times as many pairs of a commodity and an
    /// order it may serve, are re-planned together by one mixed-integer program over their
    /// time-space networks (its LP, then a few branch-and-bound nodes; `Search::family_lps`;
    /// a family too large, or whose program gives no solution, has its pools tried alone),
    /// and the result kept when the family serves more orders, or as many with fewer upgrades
    /// (0: none). The program (`microlp`) grows about with the square of the family: measured
    /// 15–50 ms at 100–140 open orders, 0.1–0.7 s at 160–280, seconds at 300–400
    /// (RESULTS.md); a family of city-3days (about 1,000 orders) would take longer, so the
    /// limit leaves its 1 s plan as it was. Run where the sweeps run.
    pub family_lp_orders: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            ejection_budget: 1000,
            lagrange_iterations: 30,
            recover_every: 10,
            lagrange_max_orders: 3_000,
            exact_max_orders: 14,
            exact_node_budget: 2_000_000,
            prove: false,
            prove_iterations: 300,
            reassign_sweeps: 4,
            reassign_max_orders: 3_000,
            upgrade_chain_budget: 4_000,
            neighbourhood_nodes: 500,
            group_iterations: 3,
            pair_exchanges: true,
            family_lp_orders: 600,
        }
    }
}

/// Block-coordinate rounds at most on the commodities the reassignment changed.
const RELOCATION_ROUNDS: usize = 2;

/// Ejection levels of the upgrade chains (`Search::upgrade_chains`): the moved order's new car
/// ejects orders, and those may eject once more. Measured on city-3days and the generated
/// instances of RESULTS.md: one level alone saved one of the five upgrades two levels save;
/// a third level saved no more (and three levels depth-first, without the iterative
/// deepening, saved none within 20,000 trials per order).
const UPGRADE_CHAIN_DEPTH: usize = 2;

/// Branch-and-bound nodes of all neighbourhood re-solves of a plan together (city-3days uses
/// about 40,000 of them at 500 per neighbourhood).
const NEIGHBOURHOOD_TOTAL: usize = 200_000;

/// Subgradient iterations between two plan recoveries of a group re-solve
/// (`Search::group_resolves`): with `PlanOptions::group_iterations` = 3, one recovery, at the
/// third prices (on gen:800:240:14 the recovery at the first or second prices finds nothing,
/// the third finds the missing order; more recoveries found nothing more at 2–5 times the cost).
const GROUP_RECOVER_EVERY: usize = 3;

/// Candidate orders solved over by all group re-solves of a plan together, at most (city-3days
/// uses about 190,000 of them with 3 iterations).
const GROUP_WORK: usize = 1_000_000;

/// Sub-problem solves of all pair exchanges of a plan together, at most (city-3days and
/// gen:2000:600:16 count about 40 of them: pools built, losses priced, single orders tried).
const PAIR_WORK: usize = 20_000;

/// Passes of the upgrade chains at most (they stop earlier once a pass keeps nothing).
const UPGRADE_CHAIN_PASSES: usize = 4;

/// The result of [`plan`].
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    /// The plan.
    pub plan: Plan,
    /// Its KPIs and the proven bound.
    pub report: PlanReport,
    /// Why each unserved order is unserved, in the order of `plan.unassigned`.
    pub explanations: Vec<Explanation>,
}

/// Plans `instance`: the best plan found, its KPIs, and why each unserved order is unserved.
pub fn plan(instance: &Instance, options: &PlanOptions) -> Result<PlanOutcome, PlanError> {
    let p = problem::build(instance)?;
    let mut s = solve::Search::new(&p);
    let dirty = s.warm_start();
    let replanning = p.previous.iter().any(|c| c.is_some());
    if replanning {
        // Re-planning keeps the previous plan and repairs it: the commodities that lost orders
        // (a car that broke down is a commodity of its own) are solved again, then ejection
        // chains re-place the freed orders, moving others only to make room. No round-robin
        // re-optimisation and no Lagrangian search: re-planning must be fast, and it should
        // move only what it must (docs/domain.md: a breakdown re-plans at once).
        for (k, &d) in dirty.iter().enumerate() {
            if d {
                s.resolve(k);
            }
        }
        s.settle(options.ejection_budget);
    } else {
        s.polish(options.ejection_budget);
    }
    let mut upper = bound::upper_bound(&s).min(p.jobs.len());
    let mut lagrangian: Option<solve::Lagrangian> = None;
    let plannable_count = s.fixed.iter().filter(|f| f.is_none()).count();
    let small_enough = plannable_count <= options.lagrange_max_orders;
    let search = !replanning && small_enough;
    let prove = options.prove && small_enough;
    if upper > s.fulfilled() && (search || prove) {
        // Proving alone (re-planning) needs the subgradient's cuts and prices but no priced
        // recoveries: the plan stays what the repair made it.
        let recover_every = if search { options.recover_every } else { 0 };
        let iterations = if prove {
            options.lagrange_iterations.max(1)
        } else {
            options.lagrange_iterations
        };
        let sweeps = if plannable_count <= options.reassign_max_orders {
            options.reassign_sweeps.min(1)
        } else {
            0
        };
        if let Some(mut dual) = bound::lagrangian(
            &mut s,
            iterations,
            recover_every,
            options.ejection_budget,
            sweeps,
            prove,
        ) {
            if prove {
                // The LP solver is third-party code: should it ever panic, the bound found so
                // far (always an exact evaluation) stands, and planning goes on.
                let target = s.fulfilled();
                let proof = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    bound::prove(&mut dual, target, options.prove_iterations)
                }));
                drop(proof);
            }
            upper = upper.min(dual.best_bound());
            lagrangian = Some(dual.into_parts());
        }
    }
    s.settle(options.ejection_budget);
    if !replanning && options.reassign_sweeps > 0 && plannable_count <= options.reassign_max_orders {
        // Exchanges between commodities (see `Search::reassign_sweeps`), then the relocation of
        // the commodities they changed, which the exchanges do not weigh.
        let local = |s: &mut solve::Search| {
            s.reassign_sweeps(options.reassign_sweeps, options.ejection_budget, true);
            if options.upgrade_chain_budget > 0 {
                s.upgrade_chains(UPGRADE_CHAIN_DEPTH, options.upgrade_chain_budget, UPGRADE_CHAIN_PASSES);
            }
            if options.neighbourhood_nodes > 0 {
                // Orders they leave unserved are placed again by the ejection passes below.
                s.neighbourhoods(options.neighbourhood_nodes, NEIGHBOURHOOD_TOTAL);
            }
        };
        // The relocation rounds on the commodities a move changed, which it does not weigh.
        let relocate = |s: &mut solve::Search| {
            let touched = std::mem::replace(&mut s.reassigned, vec![false; s.commodities.len()]);
            s.rounds(RELOCATION_ROUNDS, Some(&touched));
            s.settle(options.ejection_budget);
        };
        // After a kept re-plan of whole pools: the local moves and the relocation rounds again
        // (the re-plan takes upgrades and drives they undo), and the plan `before` it comes back
        // unless the finished one is better.
        let polish_or_restore = |s: &mut solve::Search, before: (solve::Objective, Vec<Vec<usize>>)| {
            s.settle(options.ejection_budget);
            local(s);
            relocate(s);
            if s.objective() <= before.0 {
                s.restore(before.1);
            }
        };
        local(&mut s);
        relocate(&mut s);
        if options.group_iterations > 0
            && let Some(dual) = lagrangian.take()
        {
            // Pools re-planned with the single cars they share orders with, from the
            // Lagrangian's prices and warm sub-problems (see `Search::group_resolves`); after a
            // kept one the local moves and the relocation rounds again (its recovery takes
            // upgrades and drives they undo), and the result stays only when the finished plan
            // is better than the one before.
            let before = (s.objective(), s.chains.clone());
            let mut work = GROUP_WORK;
            if s.group_resolves(Some(dual), options.group_iterations, GROUP_RECOVER_EVERY, &mut work) > 0 {
                polish_or_restore(&mut s, before);
            }
        }
        if options.family_lp_orders > 0 {
            // The pools and single cars of each family of models re-planned together by one
            // mixed-integer program (see `Search::family_lps`); then the local moves and the
            // relocation rounds again (the program does not weigh drives), and the result
            // stays only when the finished plan is better than before.
            let before = (s.objective(), s.chains.clone());
            if s.family_lps(options.family_lp_orders) > 0 {
                polish_or_restore(&mut s, before);
            }
        }
        if options.pair_exchanges {
            // Orders exchanged between two pools, each re-solved as a whole (see
            // `Search::pair_exchanges`), then the relocation rounds on the pools changed; kept
            // only when the finished plan is better than the one before.
            let before = (s.objective(), s.chains.clone());
            let mut work = PAIR_WORK;
            if s.pair_exchanges(&mut work, true) > 0 {
                relocate(&mut s);
                if s.objective() <= before.0 {
                    s.restore(before.1);
                }
            }
        }
    }
    let mut assign = s.assignment();
    let plannable: Vec<usize> = (0..p.jobs.len()).filter(|&j| s.fixed[j].is_none()).collect();
    let mut proven = false;
    if plannable.len() <= options.exact_max_orders
        && let Some(best) = exact::solve(&p, &s.start, &plannable, &s.prev_car, options.exact_node_budget)
    {
        for &j in &plannable {
            assign[j] = best[j];
        }
        upper = assign.iter().filter(|a| a.is_some()).count();
        proven = true;
    }

    let mut jobs: Vec<usize> = (0..p.jobs.len()).collect();
    jobs.sort_by(|&a, &b| (p.jobs[a].pickup_at, &p.jobs[a].id).cmp(&(p.jobs[b].pickup_at, &p.jobs[b].id)));
    let mut plan = Plan::default();
    let mut pairs = Vec::new();
    let mut explanations = Vec::new();
    for j in jobs {
        match assign[j] {
            Some(c) => {
                pairs.push((j, c));
                plan.assignments.push(Assignment {
                    order: p.jobs[j].id.clone(),
                    vehicle: p.cars[c].id.clone(),
                });
            }
            None => {
                plan.unassigned.push(p.jobs[j].id.clone());
                explanations.push(Explanation {
                    order: p.jobs[j].id.clone(),
                    reason: explain::reason(&p, j, &s.cars_for_model),
                });
            }
        }
    }
    let (_, mut report) = check::kpis(&p, &pairs);
    // The bound can never be below a plan we found (a feasible plan is a witness).
    report.upper_bound_fulfilled = upper.max(report.fulfilled);
    report.proven_optimal = proven || report.fulfilled == report.upper_bound_fulfilled;
    Ok(PlanOutcome {
        plan,
        report,
        explanations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (fulfilled, upgrades) of the exact lexicographic optimum (branch-and-bound over every
    /// plan) of a fresh, un-planned instance, or `None` when its node budget runs out.
    fn exact_optimum(instance: &Instance) -> Option<(usize, usize)> {
        let p = problem::build(instance).unwrap();
        let s = solve::Search::new(&p);
        let jobs: Vec<usize> = (0..p.jobs.len()).collect();
        let best = exact::solve(&p, &s.start, &jobs, &s.prev_car, 200_000_000)?;
        let served = best.iter().filter(|a| a.is_some()).count();
        let upgrades = best
            .iter()
            .enumerate()
            .filter(|&(j, a)| a.is_some_and(|c| p.serves(p.cars[c].model, p.jobs[j].model) == problem::Serves::Upgrade))
            .count();
        Some((served, upgrades))
    }

    /// Above the exact search's size (14–22 orders, 4–6 cars, city-like), the heuristic alone
    /// decides: on every instance it serves the exact optimum, never claims fewer upgrades than
    /// the exact minimum among such plans (which would be a miscount), and reaches that minimum
    /// on all of them (119 of 120 without the neighbourhood re-solves, 116 without the upgrade
    /// chains too; the searches are local, so this holds for these instances, not in general).
    #[test]
    fn the_heuristic_reaches_the_exact_optimum_and_its_fewest_upgrades() {
        let heuristic = PlanOptions {
            exact_max_orders: 0,
            ..PlanOptions::default()
        };
        let (mut solved, mut fewest) = (0usize, 0usize);
        for seed in 0..120u64 {
            let orders = 14 + (seed % 9) as usize;
            let vehicles = 4 + (seed % 3) as usize;
            let inst = generate(seed, orders, vehicles);
            let Some((served, upgrades)) = exact_optimum(&inst) else {
                continue;
            };
            let out = plan(&inst, &heuristic).unwrap();
            check(&inst, &out.plan).unwrap();
            assert_eq!(out.report.fulfilled, served, "seed {seed}");
            assert!(out.report.upgrades >= upgrades, "seed {seed}");
            solved += 1;
            fewest += usize::from(out.report.upgrades == upgrades);
        }
        assert!(solved >= 100, "the exact search finished on {solved} instances only");
        assert!(fewest == solved, "fewest upgrades on {fewest} of {solved}");
    }

    /// `generate(38, 90, 27)`: without the family LPs the plan serves 64 orders with 8
    /// upgrades; with them 66 with 11, the optimum of an external MILP solver (HiGHS) and
    /// 2 above the other moves.
    #[test]
    fn family_lps_serve_the_optimum_where_the_other_moves_stop_short() {
        let inst = generate(38, 90, 27);
        let without = plan(
            &inst,
            &PlanOptions {
                family_lp_orders: 0,
                ..PlanOptions::default()
            },
        )
        .unwrap();
        assert_eq!((without.report.fulfilled, without.report.upgrades), (64, 8));
        let with = plan(&inst, &PlanOptions::default()).unwrap();
        check(&inst, &with.plan).unwrap();
        assert_eq!((with.report.fulfilled, with.report.upgrades), (66, 11));
    }

    /// With the exact search (up to `exact_max_orders` plannable orders, by default), the plan
    /// is the lexicographic optimum: the most orders, then the fewest upgrades.
    #[test]
    fn small_instances_get_the_exact_fewest_upgrades() {
        for seed in 0..60u64 {
            let inst = generate(seed, 8 + (seed % 7) as usize, 3 + (seed % 3) as usize);
            let Some((served, upgrades)) = exact_optimum(&inst) else {
                continue;
            };
            let out = plan(&inst, &PlanOptions::default()).unwrap();
            assert_eq!(
                (out.report.fulfilled, out.report.upgrades),
                (served, upgrades),
                "seed {seed}"
            );
            assert!(out.report.proven_optimal);
        }
    }
}
