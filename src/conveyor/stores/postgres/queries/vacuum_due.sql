-- Whether conveyor_jobs should be vacuumed now, by this session: enough dead
-- rows (autovacuum's threshold plus scale rule) and the vacuum lock taken,
-- tried, never waited for. CASE takes the lock only when the rows call for
-- it; the caller releases it with vacuum_done.sql. The counts are the
-- statistics system's, up to a second or so behind.
SELECT CASE
    WHEN n_dead_tup >= %(dead)s + %(share)s * n_live_tup
    THEN pg_try_advisory_lock(hashtextextended('conveyor-vacuum', 0))
    ELSE false
END AS due
FROM pg_stat_user_tables
WHERE relid = 'conveyor_jobs'::regclass
