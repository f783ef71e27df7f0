-- The fleet service's read models. Timestamps are microseconds since the Unix epoch (UTC), flags
-- 0/1 integers: the same SQL serves SQLite and PostgreSQL, so one folder serves both backends.

-- From the FLEET stream (projection fleet-fleet): one row per aggregate with its folded state.
CREATE TABLE vehicles (
    vehicle_id TEXT PRIMARY KEY,
    city TEXT NOT NULL,
    model TEXT NOT NULL,
    station TEXT NOT NULL,
    -- AVAILABLE, ON_HIRE, BREAKDOWN or RETIRED; MAINTENANCE is a window in time (vehicle_windows).
    status TEXT NOT NULL,
    last_sequence BIGINT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX vehicles_by_city ON vehicles (city, vehicle_id);

-- Maintenance and breakdown windows: not available (idle rate) and blocked (planning).
CREATE TABLE vehicle_windows (
    vehicle_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_us BIGINT NOT NULL,
    -- NULL: an open breakdown.
    to_us BIGINT,
    PRIMARY KEY (vehicle_id, kind, from_us)
);

CREATE TABLE drivers (
    driver_id TEXT PRIMARY KEY,
    city TEXT NOT NULL,
    last_sequence BIGINT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX drivers_by_city ON drivers (city, driver_id);

CREATE TABLE cities (
    city TEXT PRIMARY KEY,
    last_sequence BIGINT NOT NULL,
    state TEXT NOT NULL
);

-- The plan in force per city.
CREATE TABLE plan_assignments (
    order_id TEXT PRIMARY KEY,
    city TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    plate TEXT NOT NULL,
    model TEXT NOT NULL,
    upgrade BIGINT NOT NULL,
    plan_id TEXT NOT NULL,
    assigned_at_us BIGINT NOT NULL
);
CREATE INDEX plan_assignments_by_city ON plan_assignments (city, order_id);

CREATE TABLE plan_at_risk (
    order_id TEXT PRIMARY KEY,
    city TEXT NOT NULL,
    reason TEXT NOT NULL,
    explanation TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    flagged_at_us BIGINT NOT NULL
);
CREATE INDEX plan_at_risk_by_city ON plan_at_risk (city, order_id);

CREATE TABLE driver_tasks (
    order_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    city TEXT NOT NULL,
    driver_id TEXT NOT NULL,
    shift_id TEXT NOT NULL,
    from_us BIGINT,
    to_us BIGINT,
    station TEXT NOT NULL,
    address TEXT NOT NULL,
    flagged BIGINT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (order_id, kind)
);
CREATE INDEX driver_tasks_by_city ON driver_tasks (city, from_us);

CREATE TABLE plan_history (
    sequence BIGINT PRIMARY KEY,
    city TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    planned_at_us BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    fulfilled BIGINT NOT NULL,
    upgrades BIGINT NOT NULL,
    relocation_minutes BIGINT NOT NULL,
    moved_from_previous BIGINT NOT NULL,
    fulfilment_rate DOUBLE PRECISION NOT NULL,
    idle_rate DOUBLE PRECISION NOT NULL,
    proven_optimal BIGINT NOT NULL,
    upper_bound_fulfilled BIGINT NOT NULL,
    plan_trigger TEXT NOT NULL,
    at_risk BIGINT NOT NULL
);
CREATE INDEX plan_history_by_city ON plan_history (city, sequence);

-- From the ORDER stream (projection fleet-demand): what the fleet needs of every order.
CREATE TABLE demand_orders (
    order_id TEXT PRIMARY KEY,
    city TEXT NOT NULL,
    -- PLACED, CONFIRMED, CANCELLED, PICKED_UP, RETURNED, COMPLETED, NO_SHOW
    status TEXT NOT NULL,
    confirmed BIGINT NOT NULL,
    cancelled_by TEXT NOT NULL,
    model TEXT NOT NULL,
    pickup_station TEXT NOT NULL,
    pickup_address TEXT NOT NULL,
    pickup_at_us BIGINT NOT NULL,
    return_station TEXT NOT NULL,
    return_address TEXT NOT NULL,
    return_at_us BIGINT NOT NULL,
    vehicle_id TEXT NOT NULL,
    plate TEXT NOT NULL,
    picked_up_at_us BIGINT,
    returned_at_us BIGINT,
    last_sequence BIGINT NOT NULL
);
CREATE INDEX demand_by_city_pickup ON demand_orders (city, pickup_at_us);
CREATE INDEX demand_by_vehicle ON demand_orders (vehicle_id);

-- Outboxes of the reactors, written in the projections' transactions: a change to demand or
-- supply asks for a re-plan of its city; a handover asks for a reading on the vehicle.
CREATE TABLE replan_requests (
    source TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    city TEXT NOT NULL,
    event_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    urgent BIGINT NOT NULL,
    recorded_at_us BIGINT NOT NULL,
    PRIMARY KEY (source, sequence)
);

CREATE TABLE reading_requests (
    sequence BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    odometer_km BIGINT NOT NULL,
    charge_percent BIGINT NOT NULL,
    at_us BIGINT NOT NULL,
    station TEXT NOT NULL
);
