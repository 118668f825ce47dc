-- Store.admit as one function, so it is one round trip: the time a store
-- spends between deciding and replying, the attempt starts late by (see
-- conveyor.worker). The rules are those of conveyor.stores._admission.decide.
-- Created or replaced after every migration (PostgresStore._migrate).

-- Returns the seconds the attempt waits before it starts, or NULL if its job
-- was put back (scheduled again, the attempt given back) or is not running
-- at that attempt. Admissions in one bucket take turns on an advisory lock.
CREATE OR REPLACE FUNCTION conveyor_admit(
    p_id text, p_attempt integer,
    p_rate text, p_interval double precision,
    p_bucket text, p_limit integer,
    p_park double precision, p_admit_wait double precision
) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    slack    CONSTANT double precision := 0.001;
    now_s    double precision;
    held     integer;
    mine     boolean;
    back_at  double precision;
    start_s  double precision;
    next_s   double precision;
    last_s   double precision;
    reserved double precision;
    earliest double precision;
    holder_s text;
    me       CONSTANT text := p_id || ':' || p_attempt;
BEGIN
    IF p_bucket IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('conveyor-limit:' || p_bucket, 0));
    END IF;
    IF p_rate IS NOT NULL AND p_rate IS DISTINCT FROM p_bucket THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('conveyor-limit:' || p_rate, 0));
    END IF;
    -- After the locks: the time the decision is made, not the transaction's start.
    now_s := extract(epoch FROM clock_timestamp());
    PERFORM 1 FROM conveyor_jobs WHERE id = p_id AND attempt = p_attempt AND state = 'running';
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF p_bucket IS NOT NULL THEN
        DELETE FROM conveyor_slots s
        WHERE s.bucket = p_bucket AND NOT EXISTS (
            SELECT 1 FROM conveyor_jobs j
            WHERE j.id = s.job_id AND j.attempt = s.attempt AND j.state = 'running');
        SELECT count(*), coalesce(bool_or(job_id = p_id), false) INTO held, mine
        FROM conveyor_slots WHERE bucket = p_bucket;
        IF NOT mine AND held >= p_limit THEN
            INSERT INTO conveyor_parked (bucket, job_id) VALUES (p_bucket, p_id)
            ON CONFLICT (bucket, job_id) DO NOTHING;
            back_at := now_s + p_park;
        END IF;
    END IF;

    IF back_at IS NULL AND p_rate IS NOT NULL THEN
        SELECT b.next_free, b.last, b.holder INTO next_s, last_s, holder_s
        FROM conveyor_rate_buckets b WHERE b.bucket = p_rate;
        SELECT r.at INTO reserved FROM conveyor_reservations r
        WHERE r.bucket = p_rate AND r.job_id = p_id;
        earliest := coalesce(last_s + p_interval - slack, now_s);
        IF reserved IS NULL AND holder_s = me AND last_s <= now_s THEN
            -- It missed the start it was admitted for and is still the last
            -- admission: it starts now, and the bucket counts from now.
            start_s := now_s;
            next_s := greatest(next_s, now_s + p_interval);
        ELSIF reserved IS NOT NULL THEN
            start_s := greatest(now_s, earliest, reserved);
        ELSE
            start_s := greatest(now_s, earliest, coalesce(next_s, now_s));
            next_s := start_s + p_interval;
        END IF;
        IF start_s - now_s <= p_admit_wait THEN
            INSERT INTO conveyor_rate_buckets (bucket, next_free, last, holder)
            VALUES (p_rate, next_s, start_s, me)
            ON CONFLICT (bucket) DO UPDATE
            SET next_free = excluded.next_free, last = excluded.last, holder = excluded.holder;
            DELETE FROM conveyor_reservations WHERE bucket = p_rate AND job_id = p_id;
        ELSE
            back_at := start_s;
            INSERT INTO conveyor_rate_buckets (bucket, next_free, last)
            VALUES (p_rate, next_s, last_s)
            ON CONFLICT (bucket) DO UPDATE SET next_free = excluded.next_free;
            INSERT INTO conveyor_reservations (bucket, job_id, at) VALUES (p_rate, p_id, start_s)
            ON CONFLICT (bucket, job_id) DO UPDATE SET at = excluded.at;
        END IF;
    END IF;

    IF back_at IS NOT NULL THEN
        -- Put back: not an attempt, so it is given back, and no error is recorded.
        UPDATE conveyor_jobs
        SET state = 'scheduled', attempt = attempt - 1, run_at = to_timestamp(back_at),
            lease_expires_at = NULL, worker = NULL
        WHERE id = p_id AND attempt = p_attempt AND state = 'running';
        RETURN NULL;
    END IF;
    IF p_bucket IS NOT NULL THEN
        INSERT INTO conveyor_slots (bucket, job_id, attempt) VALUES (p_bucket, p_id, p_attempt)
        ON CONFLICT (bucket, job_id) DO UPDATE SET attempt = excluded.attempt;
    END IF;
    RETURN coalesce(start_s - now_s, 0.0);
END
$$;
