-- The oldest parked jobs of a bucket that are still parked become due, and
-- their queues' waiting workers are woken (at commit).
WITH woken AS (
    UPDATE conveyor_jobs SET run_at = now()
    WHERE state = 'scheduled' AND id IN (
        SELECT p.job_id FROM conveyor_parked p
        JOIN conveyor_jobs j ON j.id = p.job_id AND j.state = 'scheduled'
        WHERE p.bucket = %(bucket)s
        ORDER BY p.seq
        LIMIT %(limit)s
    )
    RETURNING id, queue
)
SELECT id, pg_notify('conveyor', CASE WHEN octet_length(queue) <= 1000 THEN queue ELSE '' END)
FROM woken
