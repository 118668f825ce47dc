INSERT INTO conveyor_parked (bucket, job_id) VALUES (:bucket, :id)
ON CONFLICT (bucket, job_id) DO NOTHING
