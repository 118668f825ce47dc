-- Dead-letter replay: a fresh set of attempts, the error history kept.
UPDATE conveyor_jobs
SET state = 'queued', attempt = 0, run_at = :now, finished_at = NULL, reason = NULL, result = NULL
WHERE id = :id AND state = 'dead'
