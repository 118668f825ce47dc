INSERT INTO conveyor_parked (bucket, job_id) VALUES (%(bucket)s, %(id)s)
ON CONFLICT (bucket, job_id) DO NOTHING
