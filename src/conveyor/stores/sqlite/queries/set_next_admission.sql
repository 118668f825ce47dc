INSERT INTO conveyor_rate_buckets (bucket, next_admission) VALUES (:bucket, :at)
ON CONFLICT (bucket) DO UPDATE SET next_admission = excluded.next_admission
