-- A limit's put-back: the attempt never started, so it is given back.
UPDATE conveyor_jobs
SET state = 'scheduled',
    attempt = attempt - 1,
    run_at = to_timestamp(%(run_at)s),
    lease_expires_at = NULL,
    worker = NULL
WHERE id = %(id)s AND attempt = %(attempt)s AND state = 'running'
