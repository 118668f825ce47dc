-- Whether a job of these queues is due now, and in how many seconds the
-- earliest scheduled job (of any queue) falls due, on the database clock.
-- Each queue's ready index is probed on its own, in its order: the plan
-- stays on the index however stale the table's statistics.
SELECT EXISTS (
           SELECT 1 FROM unnest(%(queues)b::text[]) AS q(name)
           CROSS JOIN LATERAL (
               SELECT 1 FROM conveyor_jobs WHERE state = 'queued' AND queue = q.name
               ORDER BY priority DESC, run_at, seq
               LIMIT 1
           ) AS due
       ) AS ready,
       extract(epoch FROM (SELECT min(run_at) FROM conveyor_jobs WHERE state = 'scheduled')
                          - now())::float8 AS due_in
