-- Fleet's plan folded into the orders (VehicleAssignmentRecorded, AssignmentCleared,
-- OrderFlaggedAtRisk): the car the plan holds for an order, and whether no car can serve it.
-- The `state` JSON carries the whole assignment; these columns are what queries filter on.
-- Rows written before this migration have no assignment and are not at risk, which is what the
-- defaults say (a projection rebuild would give the same).
ALTER TABLE orders ADD COLUMN assigned_vehicle_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN assigned_plate TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN at_risk BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN at_risk_reason TEXT NOT NULL DEFAULT '';
-- The desk's at-risk list: `ListOrders(at_risk_only)`, by pickup time.
CREATE INDEX orders_at_risk_pickup ON orders (at_risk, pickup_at_us, order_id);
