-- Apply a batch of outcomes, each fenced by its attempt. Retries and
-- hand-backs wake the waiting workers (a retry's time may be sooner than the
-- one they wait for).
--
-- Each row is found by its id (the unique index), never by scanning
-- conveyor_jobs_leases: a queue table's statistics are always stale, and a
-- generic plan made when few jobs were running would read every running job
-- (and every dead index entry left since the last vacuum) per batch. The
-- state the fence expects comes from the batch, behind OFFSET 0, so the plan
-- cannot prove the leases index's predicate and use it.
WITH applied AS (
    UPDATE conveyor_jobs AS j
    SET state = o.state,
        attempt = CASE WHEN o.refund THEN j.attempt - 1 ELSE j.attempt END,
        run_at = CASE o.state
            WHEN 'scheduled' THEN now() + make_interval(secs => o.delay)
            WHEN 'queued' THEN now()
            ELSE j.run_at END,
        finished_at = CASE WHEN o.state IN ('succeeded', 'dead') THEN now() END,
        lease_expires_at = NULL,
        worker = NULL,
        result = o.result,
        reason = o.reason,
        errors = CASE WHEN o.error IS NULL THEN j.errors
                      ELSE j.errors || jsonb_build_array(o.error::jsonb) END
    FROM (
        SELECT *, 'running' AS held
        FROM unnest(
            %(id)b::text[], %(attempt)b::integer[], %(state)b::text[], %(delay)b::float8[],
            %(result)b::text[], %(reason)b::text[], %(error)b::text[], %(refund)b::boolean[]
        ) AS o(id, attempt, state, delay, result, reason, error, refund)
        OFFSET 0
    ) AS o
    WHERE j.id = o.id AND j.attempt = o.attempt AND j.state = o.held
    RETURNING j.state
), woken AS (
    SELECT pg_notify('conveyor', '') FROM applied WHERE state IN ('scheduled', 'queued') LIMIT 1
)
SELECT (SELECT count(*) FROM applied) AS applied, (SELECT count(*) FROM woken) AS woken
