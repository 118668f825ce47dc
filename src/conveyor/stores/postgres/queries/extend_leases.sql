-- A worker's leases, each fenced by its attempt, extended from now. Rows are
-- found by id, never by scanning conveyor_jobs_leases (see finish.sql).
UPDATE conveyor_jobs AS j
SET lease_expires_at = now() + make_interval(secs => %(lease)s)
FROM (
    SELECT *, 'running' AS held
    FROM unnest(%(id)b::text[], %(attempt)b::integer[]) AS held(id, attempt)
    OFFSET 0
) AS held
WHERE j.id = held.id AND j.attempt = held.attempt AND j.state = held.held
RETURNING j.id
