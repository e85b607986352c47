-- The connection tests' budget of each account (five at once, then one a minute), on its row so
-- every instance spends from the same one: the time (milliseconds) at which the next test would
-- be on schedule (GCRA's theoretical arrival time); NULL when never tested.
ALTER TABLE accounts ADD COLUMN tests_due_at BIGINT;
