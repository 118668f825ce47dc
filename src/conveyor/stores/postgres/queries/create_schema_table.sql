-- The migrations applied, one row each.
CREATE TABLE IF NOT EXISTS conveyor_schema (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
