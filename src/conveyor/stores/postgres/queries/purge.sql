-- At most `limit` jobs in `states` are deleted; rows being written are skipped.
DELETE FROM conveyor_jobs WHERE seq = ANY(ARRAY(
    SELECT seq FROM conveyor_jobs
    WHERE state = ANY(%(states)b::text[])
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
))
