-- Jobs, one row each. `seq` gives enqueue order (claims break ties on it and
-- lists show newest first by it); `id` is the public ULID. Times are
-- timestamptz on the database clock; the store reads them as epoch seconds.
CREATE TABLE conveyor_jobs (
    seq              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text        NOT NULL UNIQUE,
    task             text        NOT NULL,
    queue            text        NOT NULL,
    payload          text        NOT NULL,
    state            text        NOT NULL CHECK (state IN
        ('scheduled', 'queued', 'running', 'succeeded', 'dead', 'cancelled')),
    priority         integer     NOT NULL DEFAULT 0,
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL,
    run_at           timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    timeout          double precision,
    key              text,
    started_at       timestamptz,
    finished_at      timestamptz,
    lease_expires_at timestamptz,
    worker           text,
    result           text,
    reason           text,
    errors           jsonb       NOT NULL DEFAULT '[]'
);

-- Every index but the two unique ones is partial on one state, so a job is in
-- the index of the state it is in and in no other: each stays as small as the
-- jobs in that state, however many finished jobs the table keeps.

-- The claim: a queue's due jobs in claim order, read from the head.
CREATE INDEX conveyor_jobs_ready
    ON conveyor_jobs (queue, priority DESC, run_at, seq) WHERE state = 'queued';
-- Staging scheduled jobs whose time has come, and the next wake-up.
CREATE INDEX conveyor_jobs_scheduled
    ON conveyor_jobs (run_at) INCLUDE (queue) WHERE state = 'scheduled';
-- Recovering expired leases.
CREATE INDEX conveyor_jobs_leases
    ON conveyor_jobs (lease_expires_at) INCLUDE (queue) WHERE state = 'running';
-- Unique jobs: one active job per key.
CREATE UNIQUE INDEX conveyor_jobs_key
    ON conveyor_jobs (key) WHERE key IS NOT NULL AND state IN ('scheduled', 'queued', 'running');
-- Retention pruning and the finished counts.
CREATE INDEX conveyor_jobs_finished
    ON conveyor_jobs (state, finished_at) INCLUDE (queue)
    WHERE state IN ('succeeded', 'dead', 'cancelled');

-- Every job leaves a dead tuple at each state change: vacuum the table once
-- a hundredth of it has changed (the default waits for a fifth), so claims
-- read past few dead index entries. See docs/stores.md.
ALTER TABLE conveyor_jobs SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 1
);

CREATE TABLE conveyor_workers (
    id          text        PRIMARY KEY,
    hostname    text        NOT NULL,
    pid         integer     NOT NULL,
    queues      text[]      NOT NULL,
    concurrency integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);
