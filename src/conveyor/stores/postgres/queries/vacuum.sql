-- Removes dead rows and their index entries (see PostgresStore.maintain).
VACUUM conveyor_jobs
