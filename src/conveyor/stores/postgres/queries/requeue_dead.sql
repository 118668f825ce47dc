-- Dead-letter replay: a fresh set of attempts, the error history kept. A job
-- whose unique key an active job holds again is left dead: replaying it would
-- make a duplicate; of several replayed jobs sharing a key, the oldest goes.
WITH replayed AS (
    UPDATE conveyor_jobs AS j
    SET state = 'queued', attempt = 0, run_at = now(), finished_at = NULL, reason = NULL,
        result = NULL
    WHERE j.id = ANY(%(ids)s::text[]) AND j.state = 'dead'
      AND (j.key IS NULL OR NOT EXISTS (
          SELECT 1 FROM conveyor_jobs AS other
          WHERE other.key = j.key
            AND (other.state IN ('scheduled', 'queued', 'running')
                 OR (other.state = 'dead' AND other.id = ANY(%(ids)s::text[])
                     AND other.seq < j.seq))
      ))
    RETURNING j.seq
), woken AS (
    SELECT pg_notify('conveyor', '') FROM replayed LIMIT 1
)
SELECT (SELECT count(*) FROM replayed) AS replayed, (SELECT count(*) FROM woken) AS woken
