-- Version 3 made Store.admit and Store.release database functions. They live
-- in functions/ since, created or replaced after every migration, so a
-- change to them is one file; this step is kept for its version number.
SELECT 1;
