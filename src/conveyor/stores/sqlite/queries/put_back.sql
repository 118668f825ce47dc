-- A limit's put-back: the attempt never started, so it is given back.
UPDATE conveyor_jobs
SET state = 'scheduled',
    attempt = attempt - 1,
    run_at = :run_at,
    lease_expires_at = NULL,
    worker = NULL
WHERE id = :id AND attempt = :attempt AND state = 'running'
