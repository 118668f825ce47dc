-- Held until the migrating transaction ends: processes starting together
-- migrate one after another, and the later ones find nothing left to do.
-- The key is 'conveyor' in ASCII.
SELECT pg_advisory_xact_lock(7165916604737060722)
