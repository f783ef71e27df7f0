-- Collection KPIs: which kind of booking made each match (a payment or a deposit deduction
-- recovers money; a waiver or write-off does not).
ALTER TABLE rx_matches ADD COLUMN booking_kind TEXT NOT NULL DEFAULT '';
CREATE INDEX rx_items_booked ON rx_items (booked_day, city);
