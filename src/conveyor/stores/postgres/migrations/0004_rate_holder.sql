-- A rate bucket remembers which attempt it admitted last, so that attempt
-- may start late without giving up its turn: asking again after missing the
-- start it was admitted for, while still the bucket's last admission, it
-- starts now and the bucket counts from now (the rules of
-- conveyor.stores._admission.decide). functions/conveyor_admit.sql
-- reads and writes it.

ALTER TABLE conveyor_rate_buckets ADD COLUMN holder text;
