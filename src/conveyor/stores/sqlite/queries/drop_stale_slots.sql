-- A slot frees itself when its attempt stops running, however it stopped.
DELETE FROM conveyor_slots
WHERE bucket = :bucket AND NOT EXISTS (
    SELECT 1 FROM conveyor_jobs j
    WHERE j.id = conveyor_slots.job_id AND j.attempt = conveyor_slots.attempt
      AND j.state = 'running'
)
