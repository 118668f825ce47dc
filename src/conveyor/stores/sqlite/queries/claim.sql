-- Best due jobs of the given queues become running for one worker.
UPDATE conveyor_jobs
SET state = 'running',
    attempt = attempt + 1,
    started_at = :now,
    lease_expires_at = :now + :lease,
    worker = :worker
WHERE seq IN (
    SELECT seq FROM conveyor_jobs
    WHERE state = 'queued' AND queue IN (SELECT value FROM json_each(:queues))
    ORDER BY priority DESC, run_at, seq
    LIMIT :limit
)
RETURNING *
