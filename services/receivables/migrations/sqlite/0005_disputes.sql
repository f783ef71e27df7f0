-- Disputes: the charge booking of each violation (a complaint may name only the charge), and
-- what the disputes reactor remembers of each complaint case it has heard of.
ALTER TABLE rx_violations ADD COLUMN charge_booking_id TEXT NOT NULL DEFAULT '';
CREATE INDEX rx_violations_charge ON rx_violations (charge_booking_id);

CREATE TABLE rx_cases (
    case_id TEXT PRIMARY KEY,
    violation_id TEXT NOT NULL,
    charge_booking_id TEXT NOT NULL,
    customer_id TEXT NOT NULL
);
