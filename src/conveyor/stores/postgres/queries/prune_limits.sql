-- Reservations of jobs that are gone or finished.
DELETE FROM conveyor_reservations r WHERE NOT EXISTS (
    SELECT 1 FROM conveyor_jobs j
    WHERE j.id = r.job_id AND j.state IN ('scheduled', 'queued', 'running')
)
