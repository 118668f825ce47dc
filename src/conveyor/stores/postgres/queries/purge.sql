-- At most `limit` jobs in `states` (finished at least `older_than` seconds
-- ago, when given) are deleted; rows being written are skipped.
DELETE FROM conveyor_jobs WHERE seq IN (
    SELECT seq FROM conveyor_jobs
    WHERE state = ANY(%(states)s::text[])
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
      AND (%(older_than)s::float8 IS NULL
           OR finished_at < now() - make_interval(secs => %(older_than)s::float8))
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
