-- Expired leases with no attempts left: dead, reason worker_lost.
UPDATE conveyor_jobs
SET state = 'dead',
    reason = 'worker_lost',
    finished_at = :now,
    errors = json_insert(errors, '$[#]', json_object(
        'attempt', attempt, 'type', 'WorkerLost',
        'message', 'lease expired: worker ' || coalesce(worker, '?') || ' stopped heartbeating',
        'traceback', '', 'at', :now)),
    lease_expires_at = NULL,
    worker = NULL
WHERE state = 'running' AND lease_expires_at < :now AND attempt >= max_attempts
