-- Dead and cancelled jobs, newest first: the jobs an operator lists and
-- purges by state, usually a few among many succeeded ones. Without it a
-- listing or a purge of them walked every job by seq (200 dead among
-- 200,000: 13 to 23 ms to list, 29 to 48 to purge, growing with the
-- retained jobs). Partial on the two rare end states, so the common path (a
-- job that succeeds) writes nothing more.
CREATE INDEX conveyor_jobs_dead_cancelled
    ON conveyor_jobs (state, seq)
    WHERE state IN ('dead', 'cancelled');
