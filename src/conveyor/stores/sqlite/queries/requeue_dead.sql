-- Dead-letter replay: a fresh set of attempts, the error history kept. A job
-- whose unique key an active job holds again is left dead: replaying it
-- would make a duplicate.
UPDATE conveyor_jobs
SET state = 'queued', attempt = 0, run_at = :now, finished_at = NULL, reason = NULL, result = NULL
WHERE id = :id AND state = 'dead'
  AND (key IS NULL OR NOT EXISTS (
      SELECT 1 FROM conveyor_jobs AS active
      WHERE active.key = conveyor_jobs.key AND active.state IN ('scheduled', 'queued', 'running')
  ))
