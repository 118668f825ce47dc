-- Jobs per queue and state, each state read off its own partial index rather
-- than a scan of the whole table.
SELECT queue, 'queued' AS state, count(*) AS n
FROM conveyor_jobs WHERE state = 'queued' GROUP BY queue
UNION ALL
SELECT queue, 'scheduled', count(*)
FROM conveyor_jobs WHERE state = 'scheduled' GROUP BY queue
UNION ALL
SELECT queue, 'running', count(*)
FROM conveyor_jobs WHERE state = 'running' GROUP BY queue
UNION ALL
SELECT queue, state, count(*)
FROM conveyor_jobs WHERE state IN ('succeeded', 'dead', 'cancelled') GROUP BY queue, state
