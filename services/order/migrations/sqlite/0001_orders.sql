-- The order service's read model. Timestamps are microseconds since the Unix epoch (UTC), flags
-- are 0/1 integers: the same SQL then serves SQLite and PostgreSQL (see ../postgres/).
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    channel TEXT NOT NULL,
    partner_code TEXT NOT NULL,
    channel_order_ref TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    city TEXT NOT NULL,
    requested_model TEXT NOT NULL,
    pickup_at_us BIGINT NOT NULL,
    return_at_us BIGINT NOT NULL,
    placed_at_us BIGINT NOT NULL,
    awaiting_confirmation BIGINT NOT NULL,
    contact_due_at_us BIGINT NOT NULL,
    next_contact_at_us BIGINT,
    contact_attempts BIGINT NOT NULL,
    contact_overdue BIGINT NOT NULL,
    last_sequence BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    -- The whole folded order (the domain state) as JSON: what GetOrder answers from.
    state TEXT NOT NULL
);
CREATE INDEX orders_by_pickup ON orders (pickup_at_us, order_id);
CREATE INDEX orders_by_city_pickup ON orders (city, pickup_at_us, order_id);
CREATE INDEX orders_by_status_pickup ON orders (status, pickup_at_us, order_id);
CREATE INDEX orders_confirmation_queue ON orders (awaiting_confirmation, next_contact_at_us, order_id);
CREATE INDEX orders_contact_due ON orders (awaiting_confirmation, contact_overdue, contact_due_at_us);

-- Every event of every order, for history and as-of queries.
CREATE TABLE order_events (
    sequence BIGINT PRIMARY KEY,
    order_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_id TEXT NOT NULL,
    recorded_at_us BIGINT NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX order_events_by_order ON order_events (order_id, sequence);
