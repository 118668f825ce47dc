SELECT * FROM conveyor_jobs
WHERE (%(all_states)s OR state = ANY(%(states)b::text[]))
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
ORDER BY seq DESC
LIMIT %(limit)s OFFSET %(offset)s
