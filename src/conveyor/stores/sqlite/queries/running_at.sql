SELECT 1 FROM conveyor_jobs WHERE id = :id AND attempt = :attempt AND state = 'running'
