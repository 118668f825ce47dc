SELECT * FROM conveyor_jobs
WHERE key = :key AND state IN ('scheduled', 'queued', 'running')
