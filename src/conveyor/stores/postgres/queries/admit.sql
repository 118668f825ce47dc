-- The admission commits without waiting for the WAL flush, since the worker
-- counts its lateness from the reply. A server crash a moment later may undo
-- it: a rate or concurrency slot taken (given again), a job put back (it
-- returns when its lease expires). Nothing acknowledged is lost.
SELECT conveyor_admit(
    %(id)s, %(attempt)s, %(rate)s, %(interval)s, %(bucket)s, %(limit)s, %(park)s, %(admit_wait)s
) AS wait
FROM (SELECT set_config('synchronous_commit', 'off', true)) AS soft_commit
