-- Cancel a scheduled, queued or running job (a running job's worker learns
-- it at its next heartbeat, and the attempt fence ignores its outcome).
-- KEYS: keys, scheduled, running
-- ARGV: id
-- Returns 1 if it was cancelled, 0 if it was in any other state (or unknown).

local id = ARGV[1]
local key = job_key(id)
local job = redis.call('HMGET', key, 'state', 'queue', 'key', 'rank', 'reserved_in')
local state, queue = job[1], job[2]
if state == 'scheduled' then
  redis.call('ZREM', queue_key(queue, 'scheduled'), id)
  redis.call('ZREM', SCHEDULED, id)
elseif state == 'queued' then
  redis.call('ZREM', queue_key(queue, 'ready'), job[4])
elseif state == 'running' then
  redis.call('ZREM', RUNNING, id)
  redis.call('HDEL', key, 'lease_expires_at', 'worker')
else
  return 0
end
local nowf = fmt(clock())
redis.call('HSET', key, 'state', 'cancelled', 'reason', 'cancelled', 'finished_at', nowf)
redis.call('HDEL', key, 'reserved_in')
redis.call('ZADD', queue_key(queue, 'cancelled'), nowf, id)
release_key(job[3], id)
drop_reservation(job[5], id)
return 1
