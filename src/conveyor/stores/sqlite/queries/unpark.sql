-- Woken jobs, and parked rows whose job is no longer waiting, leave the list.
DELETE FROM conveyor_parked
WHERE bucket = :bucket AND (
    job_id IN (SELECT value FROM json_each(:woken))
    OR NOT EXISTS (
        SELECT 1 FROM conveyor_jobs j WHERE j.id = conveyor_parked.job_id AND j.state = 'scheduled'
    )
)
