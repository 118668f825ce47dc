SELECT * FROM conveyor_jobs
WHERE (:all_states OR state IN (SELECT value FROM json_each(:states)))
  AND (:queue IS NULL OR queue = :queue)
  AND (:task IS NULL OR task = :task)
ORDER BY seq DESC
LIMIT :limit OFFSET :offset
