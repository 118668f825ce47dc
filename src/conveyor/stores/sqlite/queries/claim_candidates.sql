-- The best due jobs of one queue, read straight off conveyor_jobs_ready in
-- order (a filter on several queues at once would sort the whole backlog).
SELECT seq, priority, run_at FROM conveyor_jobs
WHERE state = 'queued' AND queue = :queue
ORDER BY priority DESC, run_at, seq
LIMIT :limit
