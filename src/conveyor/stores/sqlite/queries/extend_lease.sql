UPDATE conveyor_jobs SET lease_expires_at = :now + :lease
WHERE id = :id AND attempt = :attempt AND state = 'running'
