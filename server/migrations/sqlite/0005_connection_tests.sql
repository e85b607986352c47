-- Each connection test run: when, the result, and its stages, diagnosis and folders (JSON shaped
-- by the app crate's `TestReport`). Kept per account as its history.
CREATE TABLE connection_tests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    report      TEXT    NOT NULL
);
CREATE INDEX connection_tests_by_account ON connection_tests (account_id, id);
