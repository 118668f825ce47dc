SELECT queue, min(run_at) AS oldest FROM conveyor_jobs WHERE state = 'queued' GROUP BY queue
