DELETE FROM conveyor_reservations WHERE bucket = :bucket AND job_id = :id
