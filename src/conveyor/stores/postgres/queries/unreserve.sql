DELETE FROM conveyor_reservations WHERE bucket = %(bucket)s AND job_id = %(id)s
