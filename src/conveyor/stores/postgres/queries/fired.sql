SELECT name, last_fire FROM conveyor_schedules WHERE name = ANY(%(names)s::text[])
