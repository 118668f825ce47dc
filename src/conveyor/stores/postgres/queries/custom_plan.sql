-- For one transaction, plan each statement for its parameters, not with the
-- session's generic plans (configure_session.sql): an admin listing's filters
-- decide which index can serve it, and a generic plan cannot use a state's
-- partial index for a state filter, so it walked every job by seq.
SET LOCAL plan_cache_mode = force_custom_plan
