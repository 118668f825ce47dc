-- A rate bucket remembers which attempt it admitted last, so that attempt
-- may start late without giving up its turn (conveyor.stores._admission.decide).
ALTER TABLE conveyor_rate_buckets ADD COLUMN holder TEXT;
