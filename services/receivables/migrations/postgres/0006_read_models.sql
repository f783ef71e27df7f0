-- Read models of the ledger's reports (ADR 0021), written by the receivables projection and
-- filled for existing ledgers by a rebuild of it.
--
-- Each debit item's open amount now, and its place in the booking order (the stream sequence),
-- so the projector computes what a booking changes and a statement lists open items in order.
ALTER TABLE rx_items ADD COLUMN open_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rx_items ADD COLUMN sequence BIGINT NOT NULL DEFAULT 0;
CREATE INDEX rx_items_customer_due ON rx_items (customer_id, due, sequence);

-- Every change of a debit item's open amount: from the end of `day` on, `open_fen` of it was
-- open (one row per item and day; the last change of a day wins). An item reversed on a day has
-- 0 open from then on.
CREATE TABLE rx_item_changes (
    booking_id TEXT NOT NULL,
    day TEXT NOT NULL,
    open_fen BIGINT NOT NULL,
    PRIMARY KEY (booking_id, day)
);

-- The same changes summed per city, due date and day they took effect: what is open as of a
-- date per city and due date is the sum of the deltas of the days up to it (a few rows per
-- city, due date and booking day, however many items).
CREATE TABLE rx_open_deltas (
    city TEXT NOT NULL,
    due TEXT NOT NULL,
    day TEXT NOT NULL,
    delta_fen BIGINT NOT NULL,
    PRIMARY KEY (city, due, day)
);
CREATE INDEX rx_open_deltas_day ON rx_open_deltas (day, city, due, delta_fen);

-- A customer's statement: one line per booking, in booking order (`line_no` counts them from 1),
-- with the running balance, deposits held and the running totals of debits and credits after it.
CREATE TABLE rx_statement_lines (
    customer_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    line_no BIGINT NOT NULL,
    booked_day TEXT NOT NULL,
    booked_at_us BIGINT NOT NULL,
    booking_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    about_booking_id TEXT NOT NULL,
    due TEXT NOT NULL,
    debit_fen BIGINT NOT NULL,
    credit_fen BIGINT NOT NULL,
    balance_fen BIGINT NOT NULL,
    deposit_change_fen BIGINT NOT NULL,
    deposit_held_fen BIGINT NOT NULL,
    total_debit_fen BIGINT NOT NULL,
    total_credit_fen BIGINT NOT NULL,
    memo TEXT NOT NULL,
    PRIMARY KEY (customer_id, sequence)
);
CREATE INDEX rx_statement_lines_day ON rx_statement_lines (customer_id, booked_day, sequence);
