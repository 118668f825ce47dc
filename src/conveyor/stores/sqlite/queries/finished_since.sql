-- Jobs finished since `since`, per queue. The states are also written as the
-- finished index's own list, which lets the plan use that partial index.
SELECT queue, count(*) AS n FROM conveyor_jobs
WHERE state IN ('succeeded', 'dead', 'cancelled') AND state IN ('succeeded', 'dead')
  AND finished_at >= :since
GROUP BY queue
