-- A later tick replaces an earlier one, never the other way round.
INSERT INTO conveyor_schedules (name, last_fire) VALUES (:name, :at)
ON CONFLICT (name) DO UPDATE SET last_fire = max(last_fire, excluded.last_fire)
