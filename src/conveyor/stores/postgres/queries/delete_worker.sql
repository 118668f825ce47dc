-- Also forget workers silent for a day: killed ones never unregister.
DELETE FROM conveyor_workers WHERE id = %(id)s OR last_seen < now() - interval '1 day'
