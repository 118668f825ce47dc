SELECT count(*) AS held, coalesce(sum(job_id = :id), 0) AS mine
FROM conveyor_slots WHERE bucket = :bucket
