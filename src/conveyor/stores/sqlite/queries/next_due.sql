SELECT min(run_at) FROM conveyor_jobs WHERE state = 'scheduled'
