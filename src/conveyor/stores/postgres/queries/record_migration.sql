INSERT INTO conveyor_schema (version) VALUES (%(version)s)
