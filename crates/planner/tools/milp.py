#!/usr/bin/env python3
"""Exact MILP check of a rentops planning instance (crates/planner/FORMAT.md), with HiGHS.

    milp.py INSTANCE.json [--time-limit SECONDS] [--plan-out PLAN.json] [--no-check] [--compressed]
            [--threads N]

Not part of the build or the tests: it needs HiGHS's Python package (`pip install highspy`).
Instances come from `cargo run --release -p rentops-planner --example planner-export -- DIR
gen:O:V:S...` (see RESULTS.md); the figures it gave are in RESULTS.md.

Per commodity (the cars of one model with no blocked window after their available_from pooled
as one commodity; every other car a commodity alone) a time-space network following FORMAT.md's
feasibility rule:
  * per station a node at every moment a car of the commodity starts there, is ready there after a
    return (return_at + turnaround) and must leave there for a pickup (pickup_at - travel);
  * a departure arc per (order, station) from the node (station, pickup - travel(station,
    pickup_station)) to the node (return_station, return + turnaround), for a single car only when
    [leave, return + turnaround) overlaps none of its blocked windows (half-open: touching ends are
    no overlap), and only when the commodity's model fits the order;
  * waiting arcs along each station's time line, the last node of each station a sink;
  * flow conservation, supply = the commodity's cars at their start nodes, integer flows;
  * one row per order: served at most once over all commodities and stations.
Stage 1 maximises orders served; stage 2 keeps served >= the stage-1 value and minimises
upgrades. The solution is decomposed into car chains and written as a plan file.

--compressed builds the equivalent smaller network of the Rust family LP (build):
nodes only at arrivals (starts, returns + turnaround), each departure on the last arrival node no
later than its leave moment. Its plan goes to INSTANCE.milp-compressed-plan.json by default.

Prints one JSON line with the figures of both stages.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import highspy

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "check_plan.py")


def load_checker():
    spec = importlib.util.spec_from_file_location("check_plan", CHECKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cp = load_checker()


class Commodity:
    def __init__(self, model, cars):
        self.model = model
        self.cars = cars  # list of cp.Car
        self.single = len(cars) == 1 and bool(cars[0].blocked)
        self.blocked = cars[0].blocked if self.single else []


def commodities_of(city):
    pools = defaultdict(list)
    singles = []
    for car in sorted(city.cars.values(), key=lambda c: c.id):
        # A window ending at or before available_from can never overlap a span (leaves >= free_from).
        if any(hi > car.free_from for lo, hi in car.blocked):
            singles.append(Commodity(car.model, [car]))
        else:
            pools[car.model].append(car)
    out = [Commodity(m, cs) for m, cs in sorted(pools.items())]
    for c in out:
        c.blocked = []
        c.single = False
    return out + singles


def build(city, compressed=False):
    """Columns (arcs) and rows (node balances, order rows) of the whole network.

    With `compressed`, the same network with nodes only at arrivals (as the Rust family LP,
    solve/family.rs): per commodity and station a node at every moment a car arrives there (a
    start of one of the commodity's cars, or a candidate order's return + turnaround at its return
    station); a departure arc for order j from station a hangs on the last arrival node at a no
    later than pickup_j - travel(a, pickup_station_j) (none: no arc). A car waiting at a station
    since its last arrival may leave at any later moment, so the optimum is the same.
    """
    from bisect import bisect_right

    T = city.turnaround
    stations = sorted(city.stations)
    orders = sorted(city.rentals.values(), key=lambda r: (r.start, r.id))
    order_index = {o.id: i for i, o in enumerate(orders)}
    comms = commodities_of(city)

    # Column data
    col_kind = []  # ('dep', k, order_id, station, leave, done[, t_from]) or ('wait'|'sink', k, ...)
    col_rows = []  # list of (row, coef)
    col_upg = []  # 1 if upgrade
    col_served = []  # 1 if departure arc
    n_rows = len(orders)  # order rows first: 0..len(orders)-1
    row_lo = [-np.inf] * len(orders)
    row_hi = [1.0] * len(orders)
    node_row = {}  # (k, station, t) -> row
    for k, com in enumerate(comms):
        earliest = min(c.free_from for c in com.cars)
        times = defaultdict(set)
        supply = defaultdict(int)
        for c in com.cars:
            times[c.home].add(c.free_from)
            supply[c.home, c.free_from] += 1
        arcs = []
        for o in orders:
            kind = city.fit(com.model, o.model)
            if kind is None:
                continue
            done = o.end + T
            if compressed:
                times[o.back_at].add(done)
            for s in stations:
                leave = o.start - city.travel[s, o.out_at]
                if leave < earliest:
                    continue  # no car of the commodity can be there yet
                if com.single and any(lo < done and leave < hi for lo, hi in com.blocked):
                    continue
                arcs.append((o, kind, s, leave, done))
                if not compressed:
                    # Only nodes that matter: starts, departure moments, arrival moments.
                    times[s].add(leave)
                    times[o.back_at].add(done)
        per_station = {s: sorted(times[s]) for s in stations}
        for s in stations:
            for t in per_station[s]:
                node_row[k, s, t] = n_rows
                # balance: outflow - inflow = supply
                sup = supply.get((s, t), 0)
                row_lo.append(float(sup))
                row_hi.append(float(sup))
                n_rows += 1
        # waiting arcs: t_i -> t_{i+1}; last node -> sink (outflow only)
        for s in stations:
            ts = per_station[s]
            for i, t in enumerate(ts):
                r_from = node_row[k, s, t]
                if i + 1 < len(ts):
                    col_rows.append(((r_from, 1.0), (node_row[k, s, ts[i + 1]], -1.0)))
                    col_kind.append(("wait", k, s, t, ts[i + 1]))
                else:
                    col_rows.append(((r_from, 1.0),))
                    col_kind.append(("sink", k, s, t, None))
                col_upg.append(0)
                col_served.append(0)
        for o, kind, s, leave, done in arcs:
            if compressed:
                ts = per_station[s]
                i = bisect_right(ts, leave)
                if i == 0:
                    continue  # no car of the commodity can be there by then
                # the 7th field: the time of the node the arc hangs on
                t_from = ts[i - 1]
                col_kind.append(("dep", k, o.id, s, leave, done, t_from))
            else:
                t_from = leave
                col_kind.append(("dep", k, o.id, s, leave, done))
            r_from = node_row[k, s, t_from]
            r_to = node_row[k, o.back_at, done]
            col_rows.append(((order_index[o.id], 1.0), (r_from, 1.0), (r_to, -1.0)))
            col_upg.append(1 if kind == "upgrade" else 0)
            col_served.append(1)
    return dict(
        comms=comms, orders=orders, col_kind=col_kind, col_rows=col_rows, col_upg=col_upg,
        col_served=col_served, row_lo=row_lo, row_hi=row_hi, n_rows=n_rows, node_row=node_row,
    )


def make_highs(net, time_limit, threads=1):
    n = len(net["col_kind"])
    starts = np.zeros(n + 1, dtype=np.int32)
    idx = []
    val = []
    for j, rows in enumerate(net["col_rows"]):
        for r, c in rows:
            idx.append(r)
            val.append(c)
        starts[j + 1] = len(idx)
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = net["n_rows"]
    lp.col_cost_ = np.array(net["col_served"], dtype=np.float64) * -1.0
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.full(n, highspy.kHighsInf)
    lp.row_lower_ = np.array(net["row_lo"], dtype=np.float64)
    lp.row_upper_ = np.array(net["row_hi"], dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = np.array(idx, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(val, dtype=np.float64)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", threads)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    return h


def solve_stage(h):
    r0 = h.getRunTime()  # HiGHS's run clock accumulates over runs of one Highs object
    t0 = time.perf_counter()
    h.run()
    wall = time.perf_counter() - t0
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    return dict(
        wall=wall,
        highs_time=h.getRunTime() - r0,
        status=status,
        objective=info.objective_function_value,
        bound=info.mip_dual_bound,
        gap=info.mip_gap,
        nodes=info.mip_node_count,
    )


def decompose(city, net, x):
    """Car chains from integer flows: each car walks from its start node along arcs with flow."""
    kinds = net["col_kind"]
    out = defaultdict(list)  # (k, station, t) -> list of [col, remaining]
    for j, kd in enumerate(kinds):
        f = int(round(x[j]))
        if f <= 0:
            continue
        if kd[0] == "dep":
            k, s = kd[1], kd[3]
            t_node = kd[6] if len(kd) > 6 else kd[4]  # compressed: the node it hangs on
            out[k, s, t_node].append([j, f])
        elif kd[0] == "wait":
            _, k, s, t, t2 = kd
            out[k, s, t].append([j, f])
    # departures first at a node, so a car takes an order rather than wait past it
    for key in out:
        out[key].sort(key=lambda e: 0 if kinds[e[0]][0] == "dep" else 1)
    assign = []
    for k, com in enumerate(net["comms"]):
        for car in sorted(com.cars, key=lambda c: (c.free_from, c.id)):
            node = (k, car.home, car.free_from)
            while True:
                arcs = [e for e in out.get(node, []) if e[1] > 0]
                if not arcs:
                    break
                e = arcs[0]
                e[1] -= 1
                kd = kinds[e[0]]
                if kd[0] == "dep":
                    oid, done = kd[2], kd[5]
                    assign.append((oid, car.id))
                    node = (k, city.rentals[oid].back_at, done)
                else:
                    node = (k, kd[2], kd[4])
    return assign


def write_plan(city, assign, path):
    car_of = dict(assign)
    orders = sorted(city.rentals.values(), key=lambda r: (r.start, r.id))
    plan = {
        "assignments": [{"order": o.id, "vehicle": car_of[o.id]} for o in orders if o.id in car_of],
        "unassigned": [o.id for o in orders if o.id not in car_of],
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(plan, f)
    return plan


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("instance")
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per stage")
    ap.add_argument("--plan-out", help="plan file to write (default: INSTANCE with .milp-plan.json)")
    ap.add_argument("--no-check", action="store_true", help="do not run check_plan.py on the plan")
    ap.add_argument("--threads", type=int, default=1, help="HiGHS threads (default 1)")
    ap.add_argument("--compressed", action="store_true",
                    help="nodes only at arrivals, as the Rust family LP (same optimum, smaller)")
    a = ap.parse_args()

    raw = cp.read_json(a.instance)
    if raw.get("previous_plan") or raw.get("frozen"):
        print("note: previous_plan/frozen present and ignored", file=sys.stderr)
    city = cp.City(raw)
    tb = time.perf_counter()
    net = build(city, compressed=a.compressed)
    h = make_highs(net, a.time_limit, a.threads)
    build_s = time.perf_counter() - tb
    n_cols = len(net["col_kind"])

    # Stage 1: most orders.
    s1 = solve_stage(h)
    x1 = np.array(h.getSolution().col_value)
    served1 = int(round(sum(x1[j] for j in range(n_cols) if net["col_served"][j])))
    s1["objective"] = -s1["objective"]
    s1["bound"] = -s1["bound"]

    # Stage 2: served >= stage-1 value, fewest upgrades.
    served_cols = np.array([j for j in range(n_cols) if net["col_served"][j]], dtype=np.int32)
    h.addRow(float(served1), highspy.kHighsInf, len(served_cols), served_cols,
             np.ones(len(served_cols)))
    h.changeColsCost(n_cols, np.arange(n_cols, dtype=np.int32),
                     np.array(net["col_upg"], dtype=np.float64))
    # start stage 2 from the stage-1 solution
    sol = highspy.HighsSolution()
    sol.col_value = list(x1)
    sol.value_valid = True
    h.setSolution(sol)
    s2 = solve_stage(h)
    x2 = np.array(h.getSolution().col_value)

    assign = decompose(city, net, x2)
    plan_path = a.plan_out or a.instance.replace(".instance.json", "") + (
        ".milp-compressed-plan.json" if a.compressed else ".milp-plan.json")
    write_plan(city, assign, plan_path)
    served2 = len(assign)
    upg2 = sum(1 for oid, vid in assign
               if city.fit(city.cars[vid].model, city.rentals[oid].model) == "upgrade")

    result = dict(
        instance=os.path.basename(a.instance).replace(".instance.json", ""),
        orders=len(city.rentals), vehicles=len(city.cars), commodities=len(net["comms"]),
        columns=n_cols, rows=net["n_rows"], build_s=round(build_s, 2),
        **({"compressed": True} if a.compressed else {}),
        served=served2, upgrades=upg2,
        stage1=dict(status=s1["status"], objective=s1["objective"], bound=s1["bound"],
                    wall=round(s1["wall"], 2), highs_time=round(s1["highs_time"], 2), nodes=s1["nodes"]),
        stage2=dict(status=s2["status"], objective=round(s2["objective"], 6), bound=round(s2["bound"], 6),
                    wall=round(s2["wall"], 2), highs_time=round(s2["highs_time"], 2), nodes=s2["nodes"]),
        plan=plan_path,
    )
    result["highs_time"] = round(s1["highs_time"] + s2["highs_time"], 2)
    if not a.no_check:
        p = subprocess.run([sys.executable, CHECKER, a.instance, plan_path],
                           capture_output=True, text=True)
        fig = json.loads(p.stdout) if p.stdout.strip() else {}
        result["check"] = dict(rc=p.returncode, feasible=fig.get("feasible"),
                               fulfilled=fig.get("fulfilled"), upgrades=fig.get("upgrades"),
                               agrees=(fig.get("fulfilled") == served2 and fig.get("upgrades") == upg2))
        if p.stderr:
            print(p.stderr[:2000], file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
