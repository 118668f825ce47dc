-- Jobs per queue and state, with the oldest due job's wait and the jobs
-- finished in the last minute: one statement, so one snapshot.
SELECT queue, state, count(*) AS n,
       CASE WHEN state = 'queued'
            THEN greatest(0, extract(epoch FROM now() - min(run_at)))::float8
            ELSE 0 END AS oldest_wait,
       count(*) FILTER (WHERE state IN ('succeeded', 'dead')
                          AND finished_at >= now() - interval '1 minute') AS finished_last_minute
FROM conveyor_jobs
GROUP BY queue, state
