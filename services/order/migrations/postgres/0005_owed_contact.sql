-- contact_due_at_us is now the deadline of the contact the desk owes the customer (the first call,
-- or a call-back the customer asked for), or the largest BIGINT when none is owed; the deadline
-- scan reads every row whose deadline has passed, not only never-called ones. Rows of orders
-- already called get "none owed": a call-back pending at this upgrade is seen by the scan once
-- its order's next event rewrites the row (or after a rebuild).
UPDATE orders SET contact_due_at_us = 9223372036854775807 WHERE contact_attempts > 0;
DROP INDEX IF EXISTS orders_contact_due;
CREATE INDEX orders_contact_due ON orders (contact_due_at_us, order_id)
    WHERE awaiting_confirmation = 1 AND contact_overdue = 0;
