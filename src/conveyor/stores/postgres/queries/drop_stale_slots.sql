-- A slot frees itself when its attempt stops running, however it stopped.
DELETE FROM conveyor_slots s
WHERE s.bucket = %(bucket)s AND NOT EXISTS (
    SELECT 1 FROM conveyor_jobs j
    WHERE j.id = s.job_id AND j.attempt = s.attempt AND j.state = 'running'
)
