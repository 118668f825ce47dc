INSERT INTO conveyor_slots (bucket, job_id, attempt) VALUES (:bucket, :id, :attempt)
ON CONFLICT (bucket, job_id) DO UPDATE SET attempt = excluded.attempt
