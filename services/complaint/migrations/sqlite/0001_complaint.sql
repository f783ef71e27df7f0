-- The complaint read models. Times are unix microseconds (BIGINT), days YYYY-MM-DD text (in
-- China's +08:00), durations whole seconds, flags 0/1 integers: the same SQL serves SQLite and
-- PostgreSQL (see ../postgres/; only the BLOB/BYTEA spelling differs).

-- One row per case (projection complaint): what the lists filter on, what the analysis groups
-- by, the SLA due index (next_due_us: when the scan next has something to do; NULL: nothing
-- until something happens to the case), and the case's state as JSON for GetCase.
CREATE TABLE cp_cases (
    case_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    violation_id TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    charge_booking_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    category TEXT NOT NULL,
    sub_category TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    agent TEXT NOT NULL,
    root_cause TEXT NOT NULL,
    -- From the linked order and car when the case opened ('' when not linked).
    city TEXT NOT NULL,
    vehicle_model TEXT NOT NULL,
    order_channel TEXT NOT NULL,
    opened_us BIGINT NOT NULL,
    first_response_us BIGINT,
    resolved_us BIGINT,
    closed_us BIGINT,
    reopened INTEGER NOT NULL,
    escalated INTEGER NOT NULL,
    -- Each clock once it has stopped: the counted time spent, and whether that was within the
    -- target (NULL while it runs).
    fr_spent_s BIGINT,
    fr_met INTEGER,
    res_spent_s BIGINT,
    res_met INTEGER,
    next_due_us BIGINT,
    -- The customer's words, for keywords and evidence briefs.
    text TEXT NOT NULL,
    state TEXT NOT NULL,
    last_sequence BIGINT NOT NULL
);
CREATE INDEX cp_cases_due ON cp_cases (next_due_us);
CREATE INDEX cp_cases_opened ON cp_cases (opened_us, case_id);
CREATE INDEX cp_cases_customer ON cp_cases (customer_id, opened_us);
CREATE INDEX cp_cases_vehicle ON cp_cases (vehicle_id, opened_us);
CREATE INDEX cp_cases_category ON cp_cases (category, opened_us);

-- Every event of every case, for the timeline.
CREATE TABLE cp_case_events (
    sequence BIGINT PRIMARY KEY,
    case_id TEXT NOT NULL,
    name TEXT NOT NULL,
    at_us BIGINT NOT NULL,
    actor TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX cp_case_events_case ON cp_case_events (case_id, sequence);

-- Hot spots raised (projection complaint, from the hotspot aggregate's events).
CREATE TABLE cp_hot_spots (
    hot_spot_id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    period_start_us BIGINT NOT NULL,
    period_end_us BIGINT NOT NULL,
    current_cases BIGINT NOT NULL,
    previous_cases BIGINT NOT NULL,
    rise_percent BIGINT,
    brief TEXT NOT NULL,
    raised_us BIGINT NOT NULL
);
CREATE INDEX cp_hot_spots_period ON cp_hot_spots (period_start_us, category);

-- Orders, from the order service's events (projection complaint-orders): what a case's
-- order_id may name, and the order's city, sales channel, model and car.
CREATE TABLE cp_orders (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    city TEXT NOT NULL,
    channel TEXT NOT NULL,
    model TEXT NOT NULL,
    station_id TEXT NOT NULL,
    placed_us BIGINT NOT NULL,
    vehicle_id TEXT NOT NULL
);

-- Orders placed per day, city, sales channel and requested model: the denominators of cases
-- per 1,000 orders.
CREATE TABLE cp_order_days (
    day TEXT NOT NULL,
    city TEXT NOT NULL,
    channel TEXT NOT NULL,
    model TEXT NOT NULL,
    orders BIGINT NOT NULL,
    PRIMARY KEY (day, city, channel, model)
);

-- Cars, from fleet's events (projection complaint-fleet).
CREATE TABLE cp_vehicles (
    vehicle_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    plate TEXT NOT NULL
);

-- From receivables' events (projection complaint-receivables): violations and whose they are,
-- repair claims, and the ledger charges a case may dispute.
CREATE TABLE cp_violations (
    violation_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    order_id TEXT NOT NULL
);
CREATE TABLE cp_claims (
    claim_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    vehicle_id TEXT NOT NULL
);
CREATE TABLE cp_charges (
    booking_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    reference TEXT NOT NULL
);
