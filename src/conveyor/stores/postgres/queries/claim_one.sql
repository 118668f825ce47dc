-- claim.sql for a worker of one queue (the common case): its head is read
-- off conveyor_jobs_ready in claim order and locked, rows another claimer
-- holds skipped, with no per-queue merge to plan or sort. Locks, returned
-- columns, paused queues, the soft commit and the update's plan as in
-- claim.sql.
UPDATE conveyor_jobs
SET state = 'running',
    attempt = attempt + 1,
    started_at = now(),
    lease_expires_at = now() + make_interval(secs => %(lease)s),
    worker = %(worker)s
FROM (SELECT set_config('synchronous_commit', 'off', true)) AS soft_commit
WHERE seq = ANY(ARRAY(
    SELECT seq FROM conveyor_jobs
    WHERE state = 'queued' AND queue = %(queue)s
      AND NOT EXISTS (SELECT 1 FROM conveyor_paused WHERE queue = %(queue)s)
    ORDER BY priority DESC, run_at, seq
    LIMIT %(limit)s
    FOR NO KEY UPDATE SKIP LOCKED
))
RETURNING id, task, queue, payload, state, priority, attempt, max_attempts,
    extract(epoch FROM run_at)::float8, extract(epoch FROM created_at)::float8, timeout, key,
    extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
    extract(epoch FROM lease_expires_at)::float8, worker, result, reason, errors::text, seq
