-- Instances on one database answer from memory while the revision stays put (see 0016). Each
-- hears the revision move by notification, on a connection of its own that LISTENs to
-- `mailkey_revision`, instead of reading the row on every request. Notifications are sent at
-- commit, in commit order.
CREATE OR REPLACE FUNCTION bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved BIGINT;
BEGIN
    UPDATE revision SET n = n + 1 WHERE id = 1 RETURNING n INTO moved;
    PERFORM pg_notify('mailkey_revision', moved::text);
    RETURN NULL;
END
$$;

-- The instances listening, what revision each has taken in, and until when it may answer from
-- memory without renewing. A write that moved the revision is answered once every listener
-- whose lease runs has taken it in: an instance that stopped answering stops trusting its
-- memory when its lease runs out, so the writer waits at most that long; one whose listening
-- connection is gone from the server (its process died) is not waited for at all.
CREATE TABLE revision_listeners (
    instance    TEXT        PRIMARY KEY,
    seen        BIGINT      NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    -- The server process of its listening connection (pg_backend_pid()).
    backend     INTEGER     NOT NULL
);
