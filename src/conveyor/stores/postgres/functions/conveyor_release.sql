-- Store.release as one function. Created or replaced after every migration.

-- Makes parked jobs of a bucket due, as many as it has free slots now,
-- oldest first, and wakes their queues' workers; returns how many.
CREATE OR REPLACE FUNCTION conveyor_release(p_bucket text, p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    held  integer;
    woken integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('conveyor-limit:' || p_bucket, 0));
    DELETE FROM conveyor_slots s
    WHERE s.bucket = p_bucket AND NOT EXISTS (
        SELECT 1 FROM conveyor_jobs j
        WHERE j.id = s.job_id AND j.attempt = s.attempt AND j.state = 'running');
    SELECT count(*) INTO held FROM conveyor_slots WHERE bucket = p_bucket;
    WITH chosen AS (
        SELECT p.job_id FROM conveyor_parked p
        JOIN conveyor_jobs j ON j.id = p.job_id AND j.state = 'scheduled'
        WHERE p.bucket = p_bucket
        ORDER BY p.seq
        LIMIT greatest(p_limit - held, 0)
    ), woke AS (
        UPDATE conveyor_jobs SET run_at = now()
        WHERE state = 'scheduled' AND id IN (SELECT job_id FROM chosen)
        RETURNING id, queue
    ), notified AS (
        SELECT id, pg_notify('conveyor',
                             CASE WHEN octet_length(queue) <= 1000 THEN queue ELSE '' END)
        FROM woke
    ), unparked AS (
        DELETE FROM conveyor_parked p
        WHERE p.bucket = p_bucket AND (
            p.job_id IN (SELECT id FROM notified)
            OR NOT EXISTS (SELECT 1 FROM conveyor_jobs j
                           WHERE j.id = p.job_id AND j.state = 'scheduled'))
    )
    SELECT count(*) INTO woken FROM notified;
    RETURN woken;
END
$$;
