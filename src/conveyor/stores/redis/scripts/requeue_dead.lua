-- Dead-letter replay: dead jobs back to queued with their attempts reset and
-- their errors kept. A job whose unique key an active job holds is left dead
-- (replaying it would make the duplicate the key exists to prevent).
-- KEYS: keys
-- ARGV: ids
-- Returns how many were requeued.

local now = clock()
local nowf = fmt(now)
local requeued = 0

for _, id in ipairs(ARGV) do
  local key = job_key(id)
  local job = redis.call('HMGET', key, 'state', 'queue', 'key', 'priority', 'seq')
  local unique = job[3]
  if job[1] == 'dead' and not (unique and key_holder(unique)) then
    local queue = job[2]
    local member = rank(now, job[5], id)
    update(key, {
      'state', 'queued', 'attempt', '0', 'run_at', nowf, 'rank', member,
      'finished_at', false, 'reason', false, 'result', false,
    })
    redis.call('ZREM', queue_key(queue, 'dead'), id)
    redis.call('ZADD', queue_key(queue, 'ready'), ready_score(job[4]), member)
    if unique then redis.call('HSET', UNIQUE, unique, id) end
    wake(queue)
    requeued = requeued + 1
  end
end
flush()
return requeued
