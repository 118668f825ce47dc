INSERT INTO conveyor_workers (id, hostname, pid, queues, concurrency, started_at, last_seen)
VALUES (%(id)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, to_timestamp(%(started_at)s),
        now())
ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen
