SELECT
    (SELECT next_admission FROM conveyor_rate_buckets WHERE bucket = :bucket) AS next_admission,
    (SELECT at FROM conveyor_reservations WHERE bucket = :bucket AND job_id = :id) AS reservation
