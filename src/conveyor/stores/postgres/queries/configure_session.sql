-- Prepared statements keep one generic plan: every statement here reads
-- through an index whatever its parameters, and planning the claim, the
-- insert or the outcome batch anew costs as much as running them.
SET plan_cache_mode = force_generic_plan
