-- Dead-letter replay: a fresh set of attempts, the error history kept. A job
-- whose unique key an active job holds again is left dead: replaying it would
-- make a duplicate; of several replayed jobs sharing a key, the oldest goes.
WITH candidate AS (
    SELECT j.seq, j.key, row_number() OVER (PARTITION BY j.key ORDER BY j.seq) AS nth
    FROM unnest(%(ids)b::text[]) AS replay(id)
    JOIN conveyor_jobs AS j ON j.id = replay.id
    WHERE j.state = 'dead'
), replayed AS (
    UPDATE conveyor_jobs AS j
    SET state = 'queued', attempt = 0, run_at = now(), finished_at = NULL, reason = NULL,
        result = NULL
    FROM candidate AS c
    WHERE j.seq = c.seq AND j.state = 'dead'
      AND (c.key IS NULL OR (c.nth = 1 AND NOT EXISTS (
          SELECT 1 FROM conveyor_jobs AS active
          WHERE active.key = c.key AND active.state IN ('scheduled', 'queued', 'running')
      )))
    RETURNING j.seq
), woken AS (
    SELECT pg_notify('conveyor', '') FROM replayed LIMIT 1
)
SELECT (SELECT count(*) FROM replayed) AS replayed, (SELECT count(*) FROM woken) AS woken
