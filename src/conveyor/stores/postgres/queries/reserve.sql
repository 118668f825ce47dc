INSERT INTO conveyor_reservations (bucket, job_id, at) VALUES (%(bucket)s, %(id)s, %(at)s)
ON CONFLICT (bucket, job_id) DO UPDATE SET at = excluded.at
