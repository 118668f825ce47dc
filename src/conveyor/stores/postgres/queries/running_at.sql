SELECT 1 AS running FROM conveyor_jobs
WHERE id = %(id)s AND attempt = %(attempt)s AND state = 'running'
