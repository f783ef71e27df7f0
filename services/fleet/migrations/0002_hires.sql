-- Hires as the cars had them: a swap during a hire (the order service's VehicleSwapped) puts
-- another car on hire for the rest of it. Same SQL on SQLite and PostgreSQL.

-- The car on hire now (the car handed over, or the last swap's replacement); empty on rows
-- written before this column, where it is `vehicle_id`.
ALTER TABLE demand_orders ADD COLUMN on_hire_vehicle_id TEXT NOT NULL DEFAULT '';

-- Which car served which hire when, `[from_us, to_us)`; an open span is a car on hire now. The
-- idle rate counts these, so a swapped hire is on-rent time of both cars, each for its part.
CREATE TABLE hire_spans (
    order_id TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    city TEXT NOT NULL,
    from_us BIGINT NOT NULL,
    to_us BIGINT,
    PRIMARY KEY (order_id, vehicle_id, from_us)
);
CREATE INDEX hire_spans_by_city ON hire_spans (city, from_us);
CREATE INDEX hire_spans_by_vehicle ON hire_spans (vehicle_id, from_us);

-- The hires recorded before: one span each, from pickup to return.
INSERT INTO hire_spans (order_id, vehicle_id, city, from_us, to_us)
SELECT order_id, vehicle_id, city, picked_up_at_us, returned_at_us FROM demand_orders
WHERE picked_up_at_us IS NOT NULL AND vehicle_id <> '';

-- One handover event may now ask for two readings (a swap: the car out, the car in): the
-- outbox is keyed by (event sequence, part).
CREATE TABLE reading_requests_by_part (
    sequence BIGINT NOT NULL,
    part BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    odometer_km BIGINT NOT NULL,
    charge_percent BIGINT NOT NULL,
    at_us BIGINT NOT NULL,
    station TEXT NOT NULL,
    PRIMARY KEY (sequence, part)
);
INSERT INTO reading_requests_by_part
    (sequence, part, event_id, vehicle_id, kind, order_id, odometer_km, charge_percent, at_us, station)
SELECT sequence, 0, event_id, vehicle_id, kind, order_id, odometer_km, charge_percent, at_us, station
FROM reading_requests;
DROP TABLE reading_requests;
ALTER TABLE reading_requests_by_part RENAME TO reading_requests;
