-- Apply one attempt's outcome, fenced by the attempt number.
UPDATE conveyor_jobs
SET state = :state,
    attempt = CASE WHEN :refund THEN attempt - 1 ELSE attempt END,
    run_at = CASE
        WHEN :state = 'scheduled' THEN :now + :delay
        WHEN :state = 'queued' THEN :now
        ELSE run_at END,
    finished_at = CASE WHEN :state IN ('succeeded', 'dead') THEN :now END,
    lease_expires_at = NULL,
    worker = NULL,
    result = :result,
    reason = :reason,
    errors = CASE WHEN :error IS NULL THEN errors ELSE json_insert(errors, '$[#]', json(:error)) END
WHERE id = :id AND attempt = :attempt
  AND state = 'running'
