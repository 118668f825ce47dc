-- At most `limit` jobs in `states` (of one queue, when given) are deleted,
-- oldest first.
DELETE FROM conveyor_jobs WHERE seq IN (
    SELECT seq FROM conveyor_jobs
    WHERE state IN (SELECT value FROM json_each(:states))
      AND (:queue IS NULL OR queue = :queue)
    ORDER BY seq
    LIMIT :limit
)
