-- A later tick replaces an earlier one, never the other way round.
INSERT INTO conveyor_schedules (name, last_fire) VALUES (%(name)s, %(at)s)
ON CONFLICT (name) DO UPDATE SET last_fire = greatest(conveyor_schedules.last_fire, excluded.last_fire)
