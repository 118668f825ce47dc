-- Queues no worker claims from (`conveyor queues pause`).
CREATE TABLE IF NOT EXISTS conveyor_paused (queue TEXT PRIMARY KEY);

-- The last tick each periodic schedule fired for.
CREATE TABLE IF NOT EXISTS conveyor_schedules (
    name      TEXT PRIMARY KEY,
    last_fire REAL NOT NULL
);

-- Rate limits: each bucket's next unreserved admission time and its last
-- actual admission, and the times jobs put back by it have reserved.
CREATE TABLE IF NOT EXISTS conveyor_rate_buckets (
    bucket    TEXT PRIMARY KEY,
    next_free REAL,
    last      REAL
);
CREATE TABLE IF NOT EXISTS conveyor_reservations (
    bucket TEXT NOT NULL,
    job_id TEXT NOT NULL,
    at     REAL NOT NULL,
    PRIMARY KEY (bucket, job_id)
);

-- Concurrency limits: the attempts holding a slot (a slot counts only while
-- its job runs at that attempt) and the jobs parked until one frees, in order.
CREATE TABLE IF NOT EXISTS conveyor_slots (
    bucket  TEXT    NOT NULL,
    job_id  TEXT    NOT NULL,
    attempt INTEGER NOT NULL,
    PRIMARY KEY (bucket, job_id)
);
CREATE TABLE IF NOT EXISTS conveyor_parked (
    seq    INTEGER PRIMARY KEY,
    bucket TEXT NOT NULL,
    job_id TEXT NOT NULL,
    UNIQUE (bucket, job_id)
);
