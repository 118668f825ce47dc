-- Per queue with jobs: how many are in each state, how long the oldest
-- queued job has waited, and how many finished (succeeded or dead) in the
-- last minute, all on the store's clock.
-- KEYS: queues, running
-- Returns {queue, scheduled, queued, running, succeeded, dead, cancelled,
-- oldest_wait, finished_last_minute} per queue.

local now = clock()
local since = fmt(now - 60)
local running = running_by_queue()
-- The oldest queued job heads the run of some priority in the ready zset;
-- each priority's head is visited (at most this many priorities).
local PRIORITIES = 1000

local function oldest_wait(ready)
  local oldest = false
  local from = '-inf'
  for _ = 1, PRIORITIES do
    local head = redis.call('ZRANGEBYSCORE', ready, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #head == 0 then break end
    local us = tonumber(string.sub(head[1], 1, 16))
    if not oldest or us < oldest then oldest = us end
    from = '(' .. head[2]
  end
  if not oldest then return 0 end
  return math.max(0, now - oldest / 1000000)
end

local out = {}
for _, queue in ipairs(redis.call('SMEMBERS', QUEUES)) do
  local ready = queue_key(queue, 'ready')
  local succeeded, dead = queue_key(queue, 'succeeded'), queue_key(queue, 'dead')
  local row = {
    queue,
    redis.call('ZCARD', queue_key(queue, 'scheduled')),
    redis.call('ZCARD', ready),
    #(running[queue] or {}),
    redis.call('ZCARD', succeeded),
    redis.call('ZCARD', dead),
    redis.call('ZCARD', queue_key(queue, 'cancelled')),
  }
  local total = 0
  for i = 2, 7 do total = total + row[i] end
  if total > 0 then
    row[8] = fmt(oldest_wait(ready))
    row[9] = redis.call('ZCOUNT', succeeded, since, '+inf') + redis.call('ZCOUNT', dead, since, '+inf')
    out[#out + 1] = row
  end
end
return out
