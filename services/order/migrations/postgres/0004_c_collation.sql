-- Ids and codes compare byte by byte. Under the database's default collation (C.UTF-8 here,
-- often en_US.UTF-8 in production) every B-tree comparison of a text key went through the C
-- library's strcoll: an eighth of PostgreSQL's time in a rebuild of this read model went to
-- comparing order ids. They are ASCII (UUIDs, codes), so "C" orders them the same way, and
-- the indexes on these columns are rebuilt here with it. (SQLite compares bytes already.)
ALTER TABLE orders
    ALTER COLUMN order_id TYPE TEXT COLLATE "C",
    ALTER COLUMN status TYPE TEXT COLLATE "C",
    ALTER COLUMN city TYPE TEXT COLLATE "C",
    ALTER COLUMN channel TYPE TEXT COLLATE "C";
ALTER TABLE order_events
    ALTER COLUMN order_id TYPE TEXT COLLATE "C";
