SELECT count(*) AS held, count(*) FILTER (WHERE job_id = %(id)s) AS mine
FROM conveyor_slots WHERE bucket = %(bucket)s
