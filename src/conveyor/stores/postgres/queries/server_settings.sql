-- What the store relies on from the server, checked when it opens: durable
-- commits, and autovacuum (server-wide, and not turned off for the table).
SELECT current_setting('synchronous_commit') AS synchronous_commit,
       current_setting('autovacuum') = 'on' AND NOT coalesce((
           SELECT 'autovacuum_enabled=false' = ANY(reloptions) FROM pg_class
           WHERE oid = to_regclass('conveyor_jobs')
       ), false) AS autovacuum
