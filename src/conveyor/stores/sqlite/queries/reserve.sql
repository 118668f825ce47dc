INSERT INTO conveyor_reservations (bucket, job_id, at) VALUES (:bucket, :id, :at)
ON CONFLICT (bucket, job_id) DO UPDATE SET at = excluded.at
