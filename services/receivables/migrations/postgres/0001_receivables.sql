-- The receivables read models. Times are unix microseconds (BIGINT), dates YYYY-MM-DD text,
-- money integer fen, flags 0/1 integers: the same SQL serves SQLite and PostgreSQL (see
-- ../postgres/; only the BLOB/BYTEA spelling differs).

-- Who had the car, from the order service's events (projection receivables-hires).
CREATE TABLE rx_hires (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    customer_phone TEXT NOT NULL,
    city TEXT NOT NULL,
    violation_deposit_fen BIGINT NOT NULL,
    last_sequence BIGINT NOT NULL
);

-- Each car's part of each hire: [from_us, to_us), to_us NULL while it is out.
CREATE TABLE rx_hire_spans (
    order_id TEXT NOT NULL,
    part INTEGER NOT NULL,
    vehicle_id TEXT NOT NULL,
    plate_key TEXT NOT NULL,
    from_us BIGINT NOT NULL,
    to_us BIGINT,
    PRIMARY KEY (order_id, part)
);
CREATE INDEX rx_hire_spans_vehicle ON rx_hire_spans (vehicle_id, from_us);
CREATE INDEX rx_hire_spans_plate ON rx_hire_spans (plate_key, from_us);

-- Which car carried which plate when, from fleet's events (projection receivables-fleet).
CREATE TABLE rx_plate_spans (
    vehicle_id TEXT NOT NULL,
    from_us BIGINT NOT NULL,
    plate_key TEXT NOT NULL,
    plate TEXT NOT NULL,
    to_us BIGINT,
    PRIMARY KEY (vehicle_id, from_us)
);
CREATE INDEX rx_plate_spans_plate ON rx_plate_spans (plate_key, from_us);

-- Moves of cars by a driver or staff member: [departed_us, arrived_us].
CREATE TABLE rx_moves (
    sequence BIGINT PRIMARY KEY,
    vehicle_id TEXT NOT NULL,
    departed_us BIGINT NOT NULL,
    arrived_us BIGINT NOT NULL,
    driver_id TEXT NOT NULL,
    staff_id TEXT NOT NULL
);
CREATE INDEX rx_moves_vehicle ON rx_moves (vehicle_id, departed_us);

-- What changed in who had which car, for the rematch scan (an outbox: one row per event,
-- keyed by its stream and sequence, deleted once the scan has matched again around it).
CREATE TABLE rx_recheck (
    stream TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    part INTEGER NOT NULL,
    vehicle_id TEXT NOT NULL,
    plate_key TEXT NOT NULL,
    from_us BIGINT NOT NULL,
    to_us BIGINT,
    PRIMARY KEY (stream, sequence, part)
);

-- The violations (projection receivables, over this service's own stream).
CREATE TABLE rx_violations (
    violation_id TEXT PRIMARY KEY,
    plate_key TEXT NOT NULL,
    plate TEXT NOT NULL,
    offence_us BIGINT NOT NULL,
    status TEXT NOT NULL,
    city TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    -- The ladder's next step and when it falls due (NULL when the ladder does not run).
    next_step TEXT,
    next_due_us BIGINT,
    -- 1 while the automatic match may still change it.
    rematchable INTEGER NOT NULL,
    state TEXT NOT NULL,
    last_sequence BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL
);
CREATE INDEX rx_violations_due ON rx_violations (next_due_us) WHERE next_due_us IS NOT NULL;
CREATE INDEX rx_violations_plate ON rx_violations (plate_key, offence_us);
CREATE INDEX rx_violations_status ON rx_violations (status, offence_us, violation_id);
CREATE INDEX rx_violations_customer ON rx_violations (customer_id, offence_us);

CREATE TABLE rx_violation_events (
    sequence BIGINT PRIMARY KEY,
    violation_id TEXT NOT NULL,
    name TEXT NOT NULL,
    at_us BIGINT NOT NULL,
    actor TEXT NOT NULL,
    payload BYTEA NOT NULL
);
CREATE INDEX rx_violation_events_id ON rx_violation_events (violation_id, sequence);

-- The ledgers: every booking, the receivable's debit items (charges, refunds) and the credits
-- set against them, for ageing and overdue lists as of any date.
CREATE TABLE rx_ledger_events (
    sequence BIGINT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    booked_day TEXT NOT NULL,
    payload BYTEA NOT NULL
);
CREATE INDEX rx_ledger_events_customer ON rx_ledger_events (customer_id, sequence);

CREATE TABLE rx_items (
    booking_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    due TEXT NOT NULL,
    city TEXT NOT NULL,
    order_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    booked_day TEXT NOT NULL,
    reversed_day TEXT
);
CREATE INDEX rx_items_due ON rx_items (due);
CREATE INDEX rx_items_customer ON rx_items (customer_id);

CREATE TABLE rx_matches (
    debit_id TEXT NOT NULL,
    credit_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    applied_day TEXT NOT NULL,
    released_day TEXT,
    PRIMARY KEY (debit_id, credit_id)
);
