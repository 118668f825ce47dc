SELECT queue, count(*) AS n FROM conveyor_jobs
WHERE state IN ('succeeded', 'dead') AND finished_at >= :since
GROUP BY queue
