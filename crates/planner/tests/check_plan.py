#!/usr/bin/env python3
"""The second checker of rentops planning files (crates/planner/FORMAT.md).

    check_plan.py INSTANCE.json PLAN.json   is the plan feasible, and its figures (one JSON line)
    check_plan.py --greedy INSTANCE.json    the first-come-first-served baseline plan (JSON)

Exit status: 0 feasible, 1 infeasible (every problem on stderr), 2 unreadable files, an invalid
instance or wrong arguments.

Written from FORMAT.md's rules alone, in another language and another shape than the Rust
planner's `check()` and `greedy()`, so that the planner's tests compare two implementations of
the rules rather than one with itself. Python 3 standard library only, so the tests need nothing
but `python3`.
"""

import json
import re
import sys
from datetime import datetime, timezone

# Travel, turnaround and window lengths beyond a year are refused, as the planner does.
LONGEST = 525_600
DEFAULT_FROZEN_WINDOW = 120
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# RFC 3339: date, `T` (or a space), time, optional fraction, and an offset that must be there.
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


class Refused(Exception):
    """The input cannot be checked at all: an unreadable file or an invalid instance."""


def minute_of(where, text):
    """Minutes since the epoch of an RFC 3339 time that falls on a whole minute."""
    if not isinstance(text, str) or not RFC3339.fullmatch(text):
        raise Refused(f"{where}: {text!r} is not an RFC 3339 time with an offset")
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise Refused(f"{where}: {text!r}: {e}") from None
    # Whole seconds and microseconds of the difference, so no float rounding creeps in.
    since = moment - EPOCH
    seconds = since.days * 86_400 + since.seconds
    if since.microseconds or seconds % 60:
        raise Refused(f"{where}: {text!r} is not on a whole minute")
    return seconds // 60


def minutes_field(where, value):
    """A whole number of minutes in 0..=LONGEST (a JSON boolean is no number here)."""
    if type(value) is not int or not 0 <= value <= LONGEST:
        raise Refused(f"{where}: {value!r} is not a whole number of minutes in 0..{LONGEST}")
    return value


def text_field(where, value):
    if not isinstance(value, str):
        raise Refused(f"{where}: {value!r} is not a string")
    return value


def listed(where, value):
    if not isinstance(value, list):
        raise Refused(f"{where}: expected a list")
    return value


def record(where, value):
    if not isinstance(value, dict):
        raise Refused(f"{where}: expected an object")
    return value


def stamp(minute):
    """A minute count back as UTC text, for messages."""
    return datetime.fromtimestamp(minute * 60, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


class Car:
    def __init__(self, raw, stations):
        self.id = text_field("vehicles[].id", raw.get("id"))
        where = f"vehicles[{self.id}]"
        self.model = text_field(f"{where}.model", raw.get("model"))
        self.home = text_field(f"{where}.station", raw.get("station"))
        if self.home not in stations:
            raise Refused(f"{where}.station: unknown station {self.home}")
        self.free_from = minute_of(f"{where}.available_from", raw.get("available_from"))
        self.blocked = []
        for window in listed(f"{where}.blocked", raw.get("blocked", [])):
            window = record(f"{where}.blocked[]", window)
            lo = minute_of(f"{where}.blocked.from", window.get("from"))
            hi = minute_of(f"{where}.blocked.to", window.get("to"))
            if hi < lo:
                raise Refused(f"{where}.blocked: a window ends before it starts")
            self.blocked.append((lo, hi))


class Rental:
    def __init__(self, raw, stations):
        self.id = text_field("orders[].id", raw.get("id"))
        where = f"orders[{self.id}]"
        self.model = text_field(f"{where}.model", raw.get("model"))
        self.out_at = text_field(f"{where}.pickup_station", raw.get("pickup_station"))
        self.back_at = text_field(f"{where}.return_station", raw.get("return_station"))
        for field, station in (("pickup_station", self.out_at), ("return_station", self.back_at)):
            if station not in stations:
                raise Refused(f"{where}.{field}: unknown station {station}")
        self.start = minute_of(f"{where}.pickup_at", raw.get("pickup_at"))
        self.end = minute_of(f"{where}.return_at", raw.get("return_at"))
        if self.end <= self.start:
            raise Refused(f"{where}: return_at is not after pickup_at")


class City:
    """A validated instance: its cars and rentals by id, travel times, the class ladder."""

    def __init__(self, raw):
        raw = record("instance", raw)
        self.opens = minute_of("horizon_start", raw.get("horizon_start"))
        self.closes = minute_of("horizon_end", raw.get("horizon_end"))
        if self.closes < self.opens:
            raise Refused("horizon_end is before horizon_start")
        self.turnaround = minutes_field("turnaround_minutes", raw.get("turnaround_minutes"))

        names = [text_field("stations[]", s) for s in listed("stations", raw.get("stations"))]
        self.stations = set(names)
        if len(self.stations) != len(names):
            raise Refused("stations: a station is listed twice")
        self.travel = {}
        for a, row in record("travel_minutes", raw.get("travel_minutes")).items():
            if a not in self.stations:
                raise Refused(f"travel_minutes[{a}]: unknown station")
            for b, m in record(f"travel_minutes[{a}]", row).items():
                if b not in self.stations:
                    raise Refused(f"travel_minutes[{a}][{b}]: unknown station")
                self.travel[a, b] = minutes_field(f"travel_minutes[{a}][{b}]", m)
        for a in self.stations:
            self.travel.setdefault((a, a), 0)
            for b in self.stations:
                if (a, b) not in self.travel:
                    raise Refused(f"travel_minutes[{a}][{b}] is missing")

        # better[m]: the models that may serve an order for m instead of m itself.
        self.better = {}
        for m, ups in record("upgrades", raw.get("upgrades", {})).items():
            ups = [text_field(f"upgrades[{m}][]", u) for u in listed(f"upgrades[{m}]", ups)]
            self.better[m] = {u for u in ups if u != m}

        self.cars = {}
        for v in listed("vehicles", raw.get("vehicles", [])):
            car = Car(record("vehicles[]", v), self.stations)
            if car.id in self.cars:
                raise Refused(f"vehicles: id {car.id} is used twice")
            self.cars[car.id] = car
        known_models = {c.model for c in self.cars.values()}
        for m, ups in self.better.items():
            known_models |= {m} | ups

        self.rentals = {}
        for o in listed("orders", raw.get("orders", [])):
            rental = Rental(record("orders[]", o), self.stations)
            if rental.id in self.rentals:
                raise Refused(f"orders: id {rental.id} is used twice")
            if rental.model not in known_models:
                raise Refused(f"orders[{rental.id}].model: unknown model {rental.model}")
            self.rentals[rental.id] = rental

        self.before = {}
        for a in listed("previous_plan", raw.get("previous_plan") or []):
            a = record("previous_plan[]", a)
            order, car = a.get("order"), a.get("vehicle")
            if order not in self.rentals:
                raise Refused(f"previous_plan: unknown order {order}")
            if car not in self.cars:
                raise Refused(f"previous_plan: order {order} names unknown vehicle {car}")
            if order in self.before:
                raise Refused(f"previous_plan: order {order} is assigned twice")
            self.before[order] = car

        frozen = raw.get("frozen")
        if frozen is not None:
            frozen = record("frozen", frozen)
            minute_of("frozen.now", frozen.get("now"))
            minutes_field("frozen.window_minutes", frozen.get("window_minutes", DEFAULT_FROZEN_WINDOW))

    def fit(self, car_model, order_model):
        """'same', 'upgrade', or None when the car may not serve the order."""
        if car_model == order_model:
            return "same"
        if car_model in self.better.get(order_model, ()):
            return "upgrade"
        return None

    def hindrances(self, car, where, ready, rental):
        """Why `car`, standing at `where` and free from `ready`, cannot take `rental` next
        (timing and blocked windows; the model is judged apart)."""
        leaves = rental.start - self.travel[where, rental.out_at]
        done = rental.end + self.turnaround
        found = []
        if ready > leaves:
            found.append(
                f"{car.id} is free at {where} from {stamp(ready)}, too late to leave at "
                f"{stamp(leaves)} for {rental.id} at {rental.out_at}"
            )
        for lo, hi in car.blocked:
            # Half-open spans [leaves, done) and [lo, hi): meeting at an end is no overlap.
            if lo < done and leaves < hi:
                found.append(f"{car.id} is blocked {stamp(lo)}..{stamp(hi)}, during {rental.id}")
        return found


def plan_pairs(raw):
    """The plan's (order, vehicle) pairs in file order, and its `unassigned` list or None."""
    raw = record("plan", raw)
    pairs = []
    for a in listed("assignments", raw.get("assignments")):
        a = record("assignments[]", a)
        pairs.append((a.get("order"), a.get("vehicle")))
    unassigned = raw.get("unassigned")
    if unassigned is not None:
        unassigned = listed("unassigned", unassigned)
    return pairs, unassigned


def judge(city, plan_raw):
    """Every problem of the plan, and its figures."""
    pairs, unassigned = plan_pairs(plan_raw)
    problems = []
    car_of = {}
    for order, car in pairs:
        if order not in city.rentals or car not in city.cars:
            problems.append(f"assignment of order {order!r} to vehicle {car!r}: no such order or vehicle")
        elif order in car_of:
            problems.append(f"order {order} is served twice ({car_of[order]} and {car})")
        else:
            car_of[order] = car

    if unassigned is not None:
        seen = set()
        for order in unassigned:
            if order not in city.rentals:
                problems.append(f"unassigned: no order {order!r}")
            elif order in car_of:
                problems.append(f"order {order} is listed as unassigned and served by {car_of[order]}")
            elif order in seen:
                problems.append(f"unassigned: order {order} is listed twice")
            seen.add(order)
        for order in city.rentals:
            if order not in car_of and order not in seen:
                problems.append(f"order {order} is neither served nor listed as unassigned")

    rounds = {}
    for order, car in car_of.items():
        rounds.setdefault(car, []).append(city.rentals[order])
    upgrades = 0
    driven = 0
    for car_id, rentals in rounds.items():
        car = city.cars[car_id]
        # A car takes its orders in pickup order (sorted() is stable for equal pickups).
        where, ready = car.home, car.free_from
        for rental in sorted(rentals, key=lambda r: r.start):
            kind = city.fit(car.model, rental.model)
            if kind is None:
                problems.append(f"{car.id} is a {car.model} and may not serve {rental.id}, which asks for a {rental.model}")
            upgrades += kind == "upgrade"
            problems += city.hindrances(car, where, ready, rental)
            driven += city.travel[where, rental.out_at]
            where, ready = rental.back_at, rental.end + city.turnaround

    def inside(lo, hi):
        """Minutes of [lo, hi) within the horizon."""
        return max(0, min(hi, city.closes) - max(lo, city.opens))

    on_rent = sum(inside(city.rentals[o].start, city.rentals[o].end) for o in car_of)
    available = 0
    for car in city.cars.values():
        # FORMAT.md: each blocked window's part in the horizon is taken off as it is.
        span = city.closes - max(city.opens, car.free_from)
        span -= sum(inside(lo, hi) for lo, hi in car.blocked)
        available += max(0, span)
    moved = sum(1 for order, car in city.before.items() if car_of.get(order) != car)

    total = len(city.rentals)
    figures = {
        "orders": total,
        "vehicles": len(city.cars),
        "fulfilled": len(car_of),
        "fulfilment_rate": round(len(car_of) / total, 6) if total else 1.0,
        "upgrades": upgrades,
        "relocation_minutes": driven,
        "moved_from_previous": moved,
        "idle_rate": round(1 - on_rent / available, 6) if available else 0.0,
    }
    return problems, figures


def baseline(city):
    """First come, first served: by pickup, then id, each order takes the first car by id of its
    own model that can still take it, else the first car by id of any allowed upgrade."""
    cars = sorted(city.cars.values(), key=lambda c: c.id)
    # Per car: where it stands and when it is free after the orders it has taken.
    position = {c.id: (c.home, c.free_from) for c in cars}
    plan = {"assignments": [], "unassigned": []}
    for rental in sorted(city.rentals.values(), key=lambda r: (r.start, r.id)):
        taker = None
        for wanted in ("same", "upgrade"):
            for car in cars:
                if city.fit(car.model, rental.model) == wanted and not city.hindrances(car, *position[car.id], rental):
                    taker = car
                    break
            if taker:
                break
        if taker is None:
            plan["unassigned"].append(rental.id)
        else:
            position[taker.id] = (rental.back_at, rental.end + city.turnaround)
            plan["assignments"].append({"order": rental.id, "vehicle": taker.id})
    return plan


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise Refused(f"{path}: {e}") from None


def main(args):
    try:
        if len(args) == 2 and args[0] == "--greedy":
            print(json.dumps(baseline(City(read_json(args[1]))), ensure_ascii=False))
            return 0
        if len(args) != 2 or args[0].startswith("--"):
            print(__doc__, file=sys.stderr)
            return 2
        city = City(read_json(args[0]))
        problems, figures = judge(city, read_json(args[1]))
    except Refused as e:
        print(f"check_plan.py: {e}", file=sys.stderr)
        return 2
    figures["feasible"] = not problems
    for p in problems:
        print("infeasible:", p, file=sys.stderr)
    print(json.dumps(figures))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
