-- Which vehicle carried which plate when, `[from_us, to_us)` (an open span: it carries it now),
-- from the vehicles' own events (registration, re-plating, retirement). Plates are in the
-- kernel's compact form (沪AD12345), so every spelling finds them. Cars registered before this
-- table existed are added by one rebuild of the fleet projection (`rentops admin rebuild
-- fleet-fleet`), which replays their registrations.
CREATE TABLE plate_history (
    plate TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    from_us BIGINT NOT NULL,
    to_us BIGINT,
    PRIMARY KEY (plate, vehicle_id, from_us)
);
CREATE INDEX plate_history_by_vehicle ON plate_history (vehicle_id, from_us);
