-- Jobs per queue and state, each state read off its own partial index rather
-- than a scan of the whole table; with the oldest due job's wait and the jobs
-- finished in the last minute. One statement, so one snapshot.
SELECT queue, 'queued' AS state, count(*) AS n,
       greatest(0, extract(epoch FROM now() - min(run_at)))::float8 AS oldest_wait,
       0 AS finished_last_minute
FROM conveyor_jobs WHERE state = 'queued' GROUP BY queue
UNION ALL
SELECT queue, 'scheduled', count(*), 0, 0
FROM conveyor_jobs WHERE state = 'scheduled' GROUP BY queue
UNION ALL
SELECT queue, 'running', count(*), 0, 0
FROM conveyor_jobs WHERE state = 'running' GROUP BY queue
UNION ALL
SELECT queue, state, count(*), 0,
       count(*) FILTER (WHERE state <> 'cancelled' AND finished_at >= now() - interval '1 minute')
FROM conveyor_jobs WHERE state IN ('succeeded', 'dead', 'cancelled') GROUP BY queue, state
