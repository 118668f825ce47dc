-- Insert a batch in input order (so `seq` follows it). A job whose id is
-- already stored is skipped and that stored job comes back in its place (a
-- batch whose reply was lost can be sent again); a job whose key an active
-- job holds, or an earlier job of the batch took, is skipped and the holder
-- comes back. This statement's snapshot does not see its own inserts, and the
-- stored rows are looked up only for the jobs not inserted: usually none.
--
-- Each job's queue is notified: a hint for waiting workers, which PostgreSQL
-- delivers at commit (never on rollback) and once per queue. A queue name
-- too long for a payload sends '', which wakes every waiter.
--
-- Rows come back with claim.sql's columns, for the same reason.
WITH batch AS (
    SELECT j.*,
           coalesce(to_timestamp(j.at), statement_timestamp() + make_interval(secs => j.delay))
               AS run_at,
           pg_notify('conveyor', CASE WHEN octet_length(j.queue) <= 1000 THEN j.queue ELSE '' END)
               AS woken
    FROM unnest(
        %(id)b::text[], %(task)b::text[], %(queue)b::text[], %(payload)b::text[],
        %(priority)b::integer[], %(max_attempts)b::integer[], %(timeout)b::float8[],
        %(key)b::text[], %(at)b::float8[], %(delay)b::float8[]
    ) WITH ORDINALITY AS j(id, task, queue, payload, priority, max_attempts, timeout, key, at,
                           delay, n)
), inserted AS (
    INSERT INTO conveyor_jobs
        (id, task, queue, payload, state, priority, max_attempts, run_at, created_at, timeout, key)
    SELECT id, task, queue, payload,
           CASE WHEN run_at > statement_timestamp() THEN 'scheduled' ELSE 'queued' END,
           priority, max_attempts, run_at, statement_timestamp(), timeout, key
    FROM batch
    ORDER BY n
    -- Every unique index arbitrates: the id's and the active key's.
    ON CONFLICT DO NOTHING
    RETURNING *
), skipped AS (
    SELECT id, key FROM batch WHERE NOT EXISTS (SELECT FROM inserted WHERE inserted.id = batch.id)
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
FROM conveyor_jobs WHERE id IN (SELECT id FROM skipped)
UNION ALL
SELECT id, task, queue, payload, state, priority, attempt, max_attempts,
    extract(epoch FROM run_at)::float8, extract(epoch FROM created_at)::float8, timeout, key,
    extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
    extract(epoch FROM lease_expires_at)::float8, worker, result, reason, errors::text, seq
FROM conveyor_jobs
WHERE key IN (SELECT key FROM skipped) AND state IN ('scheduled', 'queued', 'running')
