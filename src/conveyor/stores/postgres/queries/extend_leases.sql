-- A worker's leases, each fenced by its attempt, extended from now.
UPDATE conveyor_jobs AS j
SET lease_expires_at = now() + make_interval(secs => %(lease)s)
FROM unnest(%(id)b::text[], %(attempt)b::integer[]) AS held(id, attempt)
WHERE j.id = held.id AND j.attempt = held.attempt AND j.state = 'running'
