-- Every index but the unique `id` is partial on the states it serves, as on
-- PostgreSQL: a job sits only in the indexes of the state it is in, so an
-- insert or a state change writes fewer index pages, and each page written is
-- one more WAL frame in the commit. The two indexes over every row made a
-- single enqueue write five frames instead of three. Counts read each
-- state's own index (count_by_state.sql).
DROP INDEX IF EXISTS conveyor_jobs_state_queue;
DROP INDEX IF EXISTS conveyor_jobs_finished;
-- Retention pruning oldest first (prune.sql), and the finished counts.
CREATE INDEX conveyor_jobs_finished
    ON conveyor_jobs (state, finished_at, queue)
    WHERE state IN ('succeeded', 'dead', 'cancelled');
