-- A job id already stored is kept as it is: a re-sent job is not a new one.
INSERT INTO conveyor_jobs
    (id, task, queue, payload, state, priority, attempt, max_attempts, run_at, created_at, timeout, key)
VALUES
    (:id, :task, :queue, :payload, :state, :priority, 0, :max_attempts, :run_at, :now, :timeout, :key)
ON CONFLICT (id) DO NOTHING
