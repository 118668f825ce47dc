UPDATE conveyor_jobs
SET state = 'cancelled', reason = 'cancelled', finished_at = :now
WHERE id = :id AND state IN ('scheduled', 'queued')
