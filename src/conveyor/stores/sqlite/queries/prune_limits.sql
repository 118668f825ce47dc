-- Reservations and parked rows of jobs that are gone or finished.
DELETE FROM conveyor_reservations WHERE NOT EXISTS (
    SELECT 1 FROM conveyor_jobs j
    WHERE j.id = conveyor_reservations.job_id AND j.state IN ('scheduled', 'queued', 'running')
);
