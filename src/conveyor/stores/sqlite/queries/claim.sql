-- Chosen jobs become running for one worker, their attempt counted.
UPDATE conveyor_jobs
SET state = 'running',
    attempt = attempt + 1,
    started_at = :now,
    lease_expires_at = :now + :lease,
    worker = :worker
-- The unary + keeps the planner on the rowid lookups instead of a state index.
WHERE seq IN (SELECT value FROM json_each(:seqs)) AND +state = 'queued'
RETURNING *
