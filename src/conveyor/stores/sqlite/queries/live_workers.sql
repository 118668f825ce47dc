SELECT * FROM conveyor_workers WHERE last_seen >= :since ORDER BY started_at
