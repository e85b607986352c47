-- Connection tests while they run, so any instance can show a run another instance drives:
-- who may watch it (the hash of the browser session that started it), until when its driver
-- is known to be alive (milliseconds, renewed while it runs: a run whose instance died stops
-- counting as running), its stage events in order and, once done, its report (the same
-- document as connection_tests.report). Finished runs are dropped after ten minutes.
CREATE TABLE live_tests (
    run_key      TEXT    PRIMARY KEY,
    account_id   TEXT    NOT NULL,
    session_hash BYTEA   NOT NULL,
    started_at   BIGINT  NOT NULL,
    alive_until  BIGINT  NOT NULL,
    finished_at  BIGINT,
    report       TEXT
);
CREATE INDEX live_tests_by_account ON live_tests (account_id);

CREATE TABLE live_test_events (
    run_key TEXT    NOT NULL,
    seq     BIGINT  NOT NULL,
    stage   TEXT    NOT NULL,
    status  TEXT    NOT NULL,
    millis  BIGINT  NOT NULL,
    detail  TEXT,
    PRIMARY KEY (run_key, seq)
);
