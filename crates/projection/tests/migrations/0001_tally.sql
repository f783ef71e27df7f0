-- The projectors' own tests: a tally of events per counter, every event applied (and one that
-- applied twice would break a primary key or a count), and an outbox outside the view.
CREATE TABLE tally (
    id TEXT PRIMARY KEY,
    n BIGINT NOT NULL,
    last_sequence BIGINT NOT NULL
);
CREATE INDEX tally_by_n ON tally (n, id);
CREATE TABLE tally_events (
    sequence BIGINT PRIMARY KEY,
    id TEXT NOT NULL
);
CREATE INDEX tally_events_by_id ON tally_events (id, sequence);
CREATE TABLE tally_outbox (
    sequence BIGINT PRIMARY KEY
);
