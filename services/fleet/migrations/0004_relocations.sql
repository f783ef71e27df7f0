-- Relocations are driver tasks too: a task's destination station and the car it moves (empty
-- for deliveries and collections), and each plan's driver minutes. Same SQL on both backends.
ALTER TABLE driver_tasks ADD COLUMN to_station TEXT NOT NULL DEFAULT '';
ALTER TABLE driver_tasks ADD COLUMN vehicle_id TEXT NOT NULL DEFAULT '';
ALTER TABLE plan_history ADD COLUMN driver_minutes BIGINT NOT NULL DEFAULT 0;
