INSERT INTO conveyor_rate_buckets (bucket, next_free, last)
VALUES (%(bucket)s, %(next_free)s, %(last)s)
ON CONFLICT (bucket) DO UPDATE SET next_free = excluded.next_free, last = excluded.last
