-- purge.sql for dead or cancelled jobs only, read off
-- conveyor_jobs_dead_cancelled (see list_dead_cancelled.sql).
DELETE FROM conveyor_jobs WHERE seq IN (
    SELECT seq FROM conveyor_jobs
    WHERE state IN ('dead', 'cancelled') AND state IN (SELECT value FROM json_each(:states))
      AND (:queue IS NULL OR queue = :queue)
    ORDER BY seq
    LIMIT :limit
)
