-- Expired leases: back to queued with the lost attempt counted, or dead
-- (worker_lost) when no attempts are left; either way a WorkerLost error is
-- appended. Rows a finishing worker holds are skipped, not waited for; at
-- most 10,000 a call (the worker calls again within seconds), read in order
-- off conveyor_jobs_leases.
WITH recovered AS (
    UPDATE conveyor_jobs
    SET state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'queued' END,
        reason = CASE WHEN attempt >= max_attempts THEN 'worker_lost' ELSE reason END,
        finished_at = CASE WHEN attempt >= max_attempts THEN now() END,
        run_at = CASE WHEN attempt >= max_attempts THEN run_at ELSE now() END,
        errors = errors || jsonb_build_array(jsonb_build_object(
            'attempt', attempt, 'type', 'WorkerLost',
            'message', 'lease expired: worker ' || coalesce(worker, '?') || ' stopped heartbeating',
            'traceback', '', 'at', extract(epoch FROM now()))),
        lease_expires_at = NULL,
        worker = NULL
    WHERE seq = ANY(ARRAY(
        SELECT seq FROM conveyor_jobs
        WHERE state = 'running' AND lease_expires_at < now()
        ORDER BY lease_expires_at
        LIMIT 10000
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING state
), woken AS (
    SELECT pg_notify('conveyor', '') FROM recovered WHERE state = 'queued' LIMIT 1
)
SELECT (SELECT count(*) FROM recovered) AS recovered, (SELECT count(*) FROM woken) AS woken
