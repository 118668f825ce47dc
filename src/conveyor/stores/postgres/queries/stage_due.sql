-- Scheduled jobs whose time has come become queued, earliest first and a
-- bounded number per claim (the transaction stays short); rows another
-- claimer is staging are skipped, not waited for.
UPDATE conveyor_jobs SET state = 'queued'
WHERE seq = ANY(ARRAY(
    SELECT seq FROM conveyor_jobs
    WHERE state = 'scheduled' AND run_at <= now()
    ORDER BY run_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
))
