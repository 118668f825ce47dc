-- Releases the lock vacuum_due.sql took.
SELECT pg_advisory_unlock(hashtextextended('conveyor-vacuum', 0))
