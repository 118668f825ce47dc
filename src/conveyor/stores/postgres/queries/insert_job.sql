-- insert_jobs.sql for one job, with plain parameters: a single enqueue is
-- the common call, and arrays cost more to send and to unnest than the
-- insert itself. Same rules: a stored id or an active key's holder comes
-- back in place of the job, and the queue is notified.
WITH new AS (
    SELECT coalesce(to_timestamp(%(at)s::float8),
                    statement_timestamp() + make_interval(secs => %(delay)s::float8)) AS run_at,
           pg_notify('conveyor', CASE WHEN octet_length(%(queue)s::text) <= 1000
                                      THEN %(queue)s::text ELSE '' END) AS woken
), inserted AS (
    INSERT INTO conveyor_jobs
        (id, task, queue, payload, state, priority, max_attempts, run_at, created_at, timeout, key)
    SELECT %(id)s::text, %(task)s::text, %(queue)s::text, %(payload)s::text,
           CASE WHEN run_at > statement_timestamp() THEN 'scheduled' ELSE 'queued' END,
           %(priority)s::integer, %(max_attempts)s::integer, run_at, statement_timestamp(),
           %(timeout)s::float8, %(key)s::text
    FROM new
    ON CONFLICT DO NOTHING
    RETURNING *
)
SELECT id, task, queue, payload, state, priority, attempt, max_attempts,
    extract(epoch FROM run_at)::float8, extract(epoch FROM created_at)::float8, timeout, key,
    extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
    extract(epoch FROM lease_expires_at)::float8, worker, result, reason, errors::text, seq
FROM inserted
UNION ALL
SELECT id, task, queue, payload, state, priority, attempt, max_attempts,
    extract(epoch FROM run_at)::float8, extract(epoch FROM created_at)::float8, timeout, key,
    extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
    extract(epoch FROM lease_expires_at)::float8, worker, result, reason, errors::text, seq
FROM conveyor_jobs
WHERE id = %(id)s::text AND NOT EXISTS (SELECT FROM inserted)
UNION ALL
SELECT id, task, queue, payload, state, priority, attempt, max_attempts,
    extract(epoch FROM run_at)::float8, extract(epoch FROM created_at)::float8, timeout, key,
    extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
    extract(epoch FROM lease_expires_at)::float8, worker, result, reason, errors::text, seq
FROM conveyor_jobs
WHERE key = %(key)s::text AND state IN ('scheduled', 'queued', 'running')
  AND NOT EXISTS (SELECT FROM inserted)
