-- Retention: at most `limit` jobs in one finished `state` that finished at
-- least `older_than` seconds ago are deleted, oldest first, read in order off
-- conveyor_jobs_finished (the literal IN list lets the plan use that partial
-- index; a parameter alone would not).
DELETE FROM conveyor_jobs WHERE seq IN (
    SELECT seq FROM conveyor_jobs
    WHERE state IN ('succeeded', 'dead', 'cancelled') AND state = :state
      AND finished_at < :now - :older_than
      AND (:queue IS NULL OR queue = :queue)
    ORDER BY finished_at
    LIMIT :limit
)
