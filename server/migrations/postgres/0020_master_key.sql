-- The master key every instance on this database must hold, by its ID (not secret: a digest's
-- first bytes), written once by the first instance to start. An instance with another key
-- refuses to start rather than seal values the others cannot open.
CREATE TABLE master_key (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    key_id TEXT    NOT NULL
);
