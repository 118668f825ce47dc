-- The best `limit` due jobs of the worker's queues become running for it.
-- Each queue's head is read off conveyor_jobs_ready in claim order (a filter
-- on several queues at once would sort their whole backlog) and locked, rows
-- that another claimer holds skipped; the best of those heads are taken.
-- Paused queues (conveyor_paused) are left out.
-- `= ANY(ARRAY(...))` keeps the update on the primary key whatever `limit`
-- the plan was made for. RETURNING does not keep the order: the caller sorts.
-- Rows are locked as the update locks them (NO KEY UPDATE: no unique column
-- changes), so the update takes no stronger lock than the one already held.
-- The update repeats no `state = 'queued'`: the rows are locked queued, so it
-- would guard nothing, and it would let the plan prove conveyor_jobs_ready's
-- predicate and find the ten rows by reading that whole index for `seq`
-- (7 ms instead of 0.3 on a 20,000-job backlog): a plan made while the
-- table's statistics were stale did, until the next vacuum.
-- The claim commits without waiting for the WAL flush (soft_commit): a
-- server crash that undoes it only puts its jobs back to run again, as the
-- crash would anyway, and the outcome's commit, which waits, flushes it.
-- A worker waits on its claims, not on its outcomes: a drain runs a quarter
-- faster (docs/architecture.md, "Soft claims").
-- The columns come back in `JobRecord` order, times as epoch seconds and the
-- errors as JSON text, then `seq`: built into records without a dict or a
-- Python loader per value (a claim is the hottest statement).
UPDATE conveyor_jobs
SET state = 'running',
    attempt = attempt + 1,
    started_at = now(),
    lease_expires_at = now() + make_interval(secs => %(lease)s),
    worker = %(worker)s
FROM (SELECT set_config('synchronous_commit', 'off', true)) AS soft_commit
WHERE seq = ANY(ARRAY(
    SELECT head.seq
    FROM unnest(%(queues)b::text[]) AS q(name)
    CROSS JOIN LATERAL (
        SELECT seq, priority, run_at FROM conveyor_jobs
        WHERE state = 'queued' AND queue = q.name
          AND NOT EXISTS (SELECT 1 FROM conveyor_paused WHERE queue = q.name)
        ORDER BY priority DESC, run_at, seq
        LIMIT %(limit)s
        FOR NO KEY UPDATE SKIP LOCKED
    ) AS head
    ORDER BY head.priority DESC, head.run_at, head.seq
    LIMIT %(limit)s
))
RETURNING id, task, queue, payload, state, priority, attempt, max_attempts,
    extract(epoch FROM run_at)::float8, extract(epoch FROM created_at)::float8, timeout, key,
    extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
    extract(epoch FROM lease_expires_at)::float8, worker, result, reason, errors::text, seq
