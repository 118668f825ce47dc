SELECT b.next_free, b.last,
    (SELECT at FROM conveyor_reservations WHERE bucket = %(bucket)s AND job_id = %(id)s)
        AS reservation
FROM (SELECT 1) AS one LEFT JOIN conveyor_rate_buckets b ON b.bucket = %(bucket)s
