-- Woken jobs, and parked rows whose job is no longer waiting, leave the list.
DELETE FROM conveyor_parked p
WHERE p.bucket = %(bucket)s AND (
    p.job_id IN (SELECT jsonb_array_elements_text(%(woken)s::jsonb))
    OR NOT EXISTS (
        SELECT 1 FROM conveyor_jobs j WHERE j.id = p.job_id AND j.state = 'scheduled'
    )
)
