SELECT name, last_fire FROM conveyor_schedules
WHERE name IN (SELECT value FROM json_each(:names))
