-- Violation deposits: when each hire's car went out and came back (receivables-hires), and the
-- hold booked for it on the customer's ledger, until it is resolved (receivables).
ALTER TABLE rx_hires ADD COLUMN picked_up_us BIGINT;
ALTER TABLE rx_hires ADD COLUMN returned_us BIGINT;

CREATE TABLE rx_holds (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    booking_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    -- 1 once deducted from or released.
    resolved INTEGER NOT NULL
);
CREATE INDEX rx_holds_open ON rx_holds (resolved, order_id);
CREATE INDEX rx_violations_order ON rx_violations (order_id, status);
