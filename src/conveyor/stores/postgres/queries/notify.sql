-- Wake the workers waiting on these queues ('' wakes all). Delivered when the
-- transaction commits, and only then.
SELECT count(pg_notify('conveyor', queue)) AS woken FROM unnest(%(queues)b::text[]) AS queue
