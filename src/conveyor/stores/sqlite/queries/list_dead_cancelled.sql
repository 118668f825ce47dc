-- list_jobs.sql for dead or cancelled jobs only, read off
-- conveyor_jobs_dead_cancelled (the literal IN list lets the plan use that
-- partial index; the states parameter alone would not).
SELECT * FROM conveyor_jobs
WHERE state IN ('dead', 'cancelled') AND state IN (SELECT value FROM json_each(:states))
  AND (:queue IS NULL OR queue = :queue)
  AND (:task IS NULL OR task = :task)
ORDER BY seq DESC
LIMIT :limit OFFSET :offset
