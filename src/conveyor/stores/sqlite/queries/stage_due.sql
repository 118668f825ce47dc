-- Scheduled jobs whose time has come become queued.
UPDATE conveyor_jobs INDEXED BY conveyor_jobs_scheduled SET state = 'queued'
WHERE state = 'scheduled' AND run_at <= :now
