-- The confirmation queue, the contact-deadline scan and the at-risk list each read only the rows
-- their condition selects: most orders are confirmed and not at risk, and need not be in those
-- indexes at all. Partial indexes keep them out, so a confirmed order's later events (assignment,
-- pickup, return) no longer rewrite three index entries each, and the write-ahead log of every
-- batch shrinks with them. The queries state the same conditions, so both databases use them.
-- (IF EXISTS: a rebuild in progress has its secondary indexes set aside.)
DROP INDEX IF EXISTS orders_confirmation_queue;
CREATE INDEX orders_confirmation_queue ON orders (next_contact_at_us, order_id) WHERE awaiting_confirmation = 1;
DROP INDEX IF EXISTS orders_contact_due;
CREATE INDEX orders_contact_due ON orders (contact_due_at_us, order_id)
    WHERE awaiting_confirmation = 1 AND contact_overdue = 0 AND contact_attempts = 0;
DROP INDEX IF EXISTS orders_at_risk_pickup;
CREATE INDEX orders_at_risk_pickup ON orders (pickup_at_us, order_id) WHERE at_risk = 1;
