-- Admissions and releases in one limit bucket take turns until commit.
SELECT pg_advisory_xact_lock(hashtextextended('conveyor-limit:' || %(bucket)s, 0)),
       extract(epoch FROM now())::float8 AS now
