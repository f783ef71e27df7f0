-- Repair claims: the agreement's cover tier of each hire (receivables-hires), the damage noted
-- at returns (an outbox the claims scan opens claims from, one row per return, deleted once
-- opened), and the claims themselves with their timelines (receivables).
ALTER TABLE rx_hires ADD COLUMN cover_tier TEXT NOT NULL DEFAULT 'BASIC';

CREATE TABLE rx_damage (
    order_id TEXT PRIMARY KEY,
    damage TEXT NOT NULL,
    returned_us BIGINT NOT NULL
);

CREATE TABLE rx_claims (
    claim_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_us BIGINT NOT NULL,
    state TEXT NOT NULL,
    last_sequence BIGINT NOT NULL
);
CREATE INDEX rx_claims_order ON rx_claims (order_id, status);
CREATE INDEX rx_claims_customer ON rx_claims (customer_id, opened_us);
CREATE INDEX rx_claims_status ON rx_claims (status, opened_us);

CREATE TABLE rx_claim_events (
    sequence BIGINT PRIMARY KEY,
    claim_id TEXT NOT NULL,
    name TEXT NOT NULL,
    at_us BIGINT NOT NULL,
    actor TEXT NOT NULL,
    payload BYTEA NOT NULL
);
CREATE INDEX rx_claim_events_id ON rx_claim_events (claim_id, sequence);
