-- Retention: at most `limit` jobs in one finished `state` that finished at
-- least `older_than` seconds ago are deleted, oldest first, read in order off
-- conveyor_jobs_finished (which the IN list lets the plan use).
DELETE FROM conveyor_jobs WHERE seq = ANY(ARRAY(
    SELECT seq FROM conveyor_jobs
    WHERE state IN ('succeeded', 'dead', 'cancelled') AND state = %(state)s
      AND finished_at < now() - make_interval(secs => %(older_than)s)
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
    ORDER BY finished_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
))
