SELECT min(run_at) FROM conveyor_jobs INDEXED BY conveyor_jobs_scheduled
WHERE state = 'scheduled'
