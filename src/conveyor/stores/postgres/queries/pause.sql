INSERT INTO conveyor_paused (queue) VALUES (%(queue)s) ON CONFLICT (queue) DO NOTHING
