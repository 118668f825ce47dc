-- Expired leases with attempts left: queued again, the lost attempt kept.
UPDATE conveyor_jobs
SET state = 'queued',
    run_at = :now,
    errors = json_insert(errors, '$[#]', json_object(
        'attempt', attempt, 'type', 'WorkerLost',
        'message', 'lease expired: worker ' || coalesce(worker, '?') || ' stopped heartbeating',
        'traceback', '', 'at', :now)),
    lease_expires_at = NULL,
    worker = NULL
WHERE state = 'running' AND lease_expires_at < :now
