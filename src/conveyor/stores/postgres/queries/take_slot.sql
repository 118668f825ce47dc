INSERT INTO conveyor_slots (bucket, job_id, attempt) VALUES (%(bucket)s, %(id)s, %(attempt)s)
ON CONFLICT (bucket, job_id) DO UPDATE SET attempt = excluded.attempt
