-- A resumed queue's waiting workers are woken (delivered at commit).
WITH resumed AS (DELETE FROM conveyor_paused WHERE queue = %(queue)s RETURNING queue)
SELECT pg_notify('conveyor', CASE WHEN octet_length(queue) <= 1000 THEN queue ELSE '' END)
FROM resumed
