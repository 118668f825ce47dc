INSERT INTO conveyor_workers (id, hostname, pid, queues, concurrency, started_at, last_seen)
VALUES (:id, :hostname, :pid, :queues, :concurrency, :started_at, :now)
ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen
