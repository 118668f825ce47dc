INSERT INTO conveyor_rate_buckets (bucket, next_free, last, holder)
VALUES (:bucket, :next_free, :last, :holder)
ON CONFLICT (bucket) DO UPDATE
SET next_free = excluded.next_free, last = excluded.last, holder = excluded.holder
