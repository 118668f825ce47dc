UPDATE conveyor_jobs
SET state = 'cancelled', reason = 'cancelled', finished_at = now()
WHERE id = %(id)s AND state IN ('scheduled', 'queued')
