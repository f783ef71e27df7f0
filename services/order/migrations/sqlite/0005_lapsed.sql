-- Whether a call reached the customer. A placed order whose pickup time has passed without one
-- has lapsed: it leaves the confirmation queue for the desk's list of lapsed orders
-- (ListLapsedOrders), which this partial index serves by pickup time. Rows already stored take
-- the flag from their folded order, so no rebuild is needed.
ALTER TABLE orders ADD COLUMN reached BIGINT NOT NULL DEFAULT 0;
UPDATE orders SET reached = 1 WHERE json_extract(state, '$.reached') = 1;
CREATE INDEX orders_lapsed ON orders (pickup_at_us, order_id) WHERE awaiting_confirmation = 1 AND reached = 0;
