-- Make parked jobs of a concurrency bucket due, as many as it has free
-- slots now, oldest first; parked entries whose job is no longer waiting
-- are dropped on the way.
-- KEYS: scheduled
-- ARGV: bucket, limit
-- Returns how many were woken.

local bucket, limit = ARGV[1], tonumber(ARGV[2])
local held = slot_holders(bucket, '')
local free = limit - held
local parked = parked_key(bucket)
local woken = 0
local now = clock()
while woken < free do
  local head = redis.call('ZRANGE', parked, 0, 0)
  if #head == 0 then break end
  local id = head[1]
  redis.call('ZREM', parked, id)
  local job = redis.call('HMGET', job_key(id), 'state', 'queue', 'seq')
  if job[1] == 'scheduled' then
    reschedule(id, job[2], job[3], now)
    wake(job[2])
    woken = woken + 1
  end
end
flush()
return woken
