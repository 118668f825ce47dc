-- Jobs, one row each; `seq` gives enqueue order, `id` is the public ULID.
CREATE TABLE IF NOT EXISTS conveyor_jobs (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    task             TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_at           REAL    NOT NULL,
    created_at       REAL    NOT NULL,
    timeout          REAL,
    key              TEXT,
    started_at       REAL,
    finished_at      REAL,
    lease_expires_at REAL,
    worker           TEXT,
    result           TEXT,
    reason           TEXT,
    errors           TEXT    NOT NULL DEFAULT '[]'
);

-- The claim path: due jobs of a queue, best priority first, then FIFO.
CREATE INDEX IF NOT EXISTS conveyor_jobs_ready
    ON conveyor_jobs (queue, priority DESC, run_at, seq) WHERE state = 'queued';
-- Staging scheduled jobs whose time has come.
CREATE INDEX IF NOT EXISTS conveyor_jobs_scheduled
    ON conveyor_jobs (run_at) WHERE state = 'scheduled';
-- Recovering expired leases.
CREATE INDEX IF NOT EXISTS conveyor_jobs_leases
    ON conveyor_jobs (lease_expires_at) WHERE state = 'running';
-- Unique jobs: one active job per key.
CREATE UNIQUE INDEX IF NOT EXISTS conveyor_jobs_key
    ON conveyor_jobs (key) WHERE key IS NOT NULL AND state IN ('scheduled', 'queued', 'running');
-- Pruning and listing by state.
CREATE INDEX IF NOT EXISTS conveyor_jobs_finished ON conveyor_jobs (state, finished_at);
CREATE INDEX IF NOT EXISTS conveyor_jobs_state_queue ON conveyor_jobs (state, queue, seq);

CREATE TABLE IF NOT EXISTS conveyor_workers (
    id          TEXT    PRIMARY KEY,
    hostname    TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    queues      TEXT    NOT NULL,
    concurrency INTEGER NOT NULL,
    started_at  REAL    NOT NULL,
    last_seen   REAL    NOT NULL
);
