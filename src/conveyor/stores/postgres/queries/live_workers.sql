SELECT * FROM conveyor_workers
WHERE last_seen >= now() - make_interval(secs => %(ttl)s)
ORDER BY started_at
