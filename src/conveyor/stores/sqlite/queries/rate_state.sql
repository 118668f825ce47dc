SELECT b.next_free, b.last, b.holder,
    (SELECT at FROM conveyor_reservations WHERE bucket = :bucket AND job_id = :id) AS reservation
FROM (SELECT 1) LEFT JOIN conveyor_rate_buckets b ON b.bucket = :bucket
