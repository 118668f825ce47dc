DELETE FROM conveyor_jobs WHERE seq IN (
    SELECT seq FROM conveyor_jobs
    WHERE state IN (SELECT value FROM json_each(:states))
      AND (:queue IS NULL OR queue = :queue)
      AND (:before IS NULL OR finished_at < :before)
    ORDER BY seq
    LIMIT :limit
)
