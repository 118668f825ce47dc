-- Queues no worker claims from (`conveyor queues pause`).
CREATE TABLE conveyor_paused (queue text PRIMARY KEY);

-- The last tick each periodic schedule fired for (epoch seconds).
CREATE TABLE conveyor_schedules (
    name      text             PRIMARY KEY,
    last_fire double precision NOT NULL
);

-- Rate limits: each bucket's next unreserved admission time and its last
-- actual admission (epoch seconds on the database clock), and the times jobs
-- put back by it have reserved.
CREATE TABLE conveyor_rate_buckets (
    bucket    text PRIMARY KEY,
    next_free double precision,
    last      double precision
);
CREATE TABLE conveyor_reservations (
    bucket text             NOT NULL,
    job_id text             NOT NULL,
    at     double precision NOT NULL,
    PRIMARY KEY (bucket, job_id)
);

-- Concurrency limits: the attempts holding a slot (a slot counts only while
-- its job runs at that attempt) and the jobs parked until one frees, in order.
CREATE TABLE conveyor_slots (
    bucket  text    NOT NULL,
    job_id  text    NOT NULL,
    attempt integer NOT NULL,
    PRIMARY KEY (bucket, job_id)
);
CREATE TABLE conveyor_parked (
    seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket text   NOT NULL,
    job_id text   NOT NULL,
    UNIQUE (bucket, job_id)
);
