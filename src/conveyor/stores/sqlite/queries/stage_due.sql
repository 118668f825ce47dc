-- Scheduled jobs whose time has come become queued.
UPDATE conveyor_jobs SET state = 'queued'
WHERE state = 'scheduled' AND run_at <= :now
