-- A running job's worker learns of it at its next heartbeat.
UPDATE conveyor_jobs
SET state = 'cancelled', reason = 'cancelled', finished_at = now(),
    lease_expires_at = NULL, worker = NULL
WHERE id = %(id)s AND state IN ('scheduled', 'queued', 'running')
