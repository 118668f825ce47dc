-- finish.sql for a batch of plain successes (no error, no reason), the
-- common batch: three arrays instead of seven, no per-row CASE, and nothing
-- to notify. Rows are found by id, as in finish.sql.
UPDATE conveyor_jobs AS j
SET state = 'succeeded',
    finished_at = now(),
    lease_expires_at = NULL,
    worker = NULL,
    result = o.result,
    reason = NULL
FROM (
    SELECT *, 'running' AS held
    FROM unnest(%(id)b::text[], %(attempt)b::integer[], %(result)b::text[])
        AS o(id, attempt, result)
    OFFSET 0
) AS o
WHERE j.id = o.id AND j.attempt = o.attempt AND j.state = o.held
