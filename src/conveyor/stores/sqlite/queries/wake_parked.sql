-- The oldest parked jobs of a bucket that are still parked become due.
UPDATE conveyor_jobs SET run_at = :now
WHERE state = 'scheduled' AND id IN (
    SELECT p.job_id FROM conveyor_parked p
    JOIN conveyor_jobs j ON j.id = p.job_id AND j.state = 'scheduled'
    WHERE p.bucket = :bucket
    ORDER BY p.seq
    LIMIT :limit
)
RETURNING id
