INSERT INTO conveyor_paused (queue) VALUES (:queue) ON CONFLICT (queue) DO NOTHING
