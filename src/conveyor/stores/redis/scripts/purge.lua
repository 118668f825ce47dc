-- Delete up to `limit` jobs in some states, oldest first; when a cutoff is
-- given, only finished jobs that finished before it. The store calls this
-- again until it deletes fewer than asked, so a large purge runs as several
-- short scripts instead of one that stalls Redis.
-- KEYS: queues, keys, running, scheduled
-- ARGV: older_than seconds ('' for none), limit, queue (optional, '' for all), state...
-- Returns how many were deleted.

local limit, only = tonumber(ARGV[2]), optional(ARGV[3])
local before = false
if ARGV[1] ~= '' then before = fmt(clock() - tonumber(ARGV[1])) end
local queues
if only then queues = {only} else queues = redis.call('SMEMBERS', QUEUES) end
local running = false

-- Up to `limit` ids from one state's index of one queue, in index order.
local function candidates_of(queue, state)
  if FINISHED[state] then
    local index = queue_key(queue, state)
    if before then
      return redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. before, 'LIMIT', 0, limit)
    end
    return redis.call('ZRANGE', index, 0, limit - 1)
  end
  if before then return {} end  -- an active job has not finished at all
  if state == 'scheduled' then
    return redis.call('ZRANGE', queue_key(queue, 'scheduled'), 0, limit - 1)
  elseif state == 'queued' then
    local ids = redis.call('ZRANGE', queue_key(queue, 'ready'), 0, limit - 1)
    for i, member in ipairs(ids) do ids[i] = rank_id(member) end
    return ids
  elseif state == 'running' then
    if not running then running = running_by_queue() end
    return running[queue] or {}
  end
  return {}
end

local candidates = {}
for _, queue in ipairs(queues) do
  for i = 4, #ARGV do
    for _, id in ipairs(candidates_of(queue, ARGV[i])) do candidates[#candidates + 1] = id end
  end
end
if #candidates > limit then
  local seq = {}
  for _, id in ipairs(candidates) do
    seq[id] = tonumber(redis.call('HGET', job_key(id), 'seq')) or 0
  end
  table.sort(candidates, function(a, b) return seq[a] < seq[b] end)
end

local deleted, touched = 0, {}
for i = 1, math.min(limit, #candidates) do
  local id = candidates[i]
  local key = job_key(id)
  local job = redis.call('HMGET', key, 'state', 'queue', 'key', 'rank', 'reserved_in')
  local state, queue = job[1], job[2]
  if state then
    if state == 'queued' then
      redis.call('ZREM', queue_key(queue, 'ready'), job[4])
    elseif state == 'running' then
      redis.call('ZREM', RUNNING, id)
    else
      if state == 'scheduled' then redis.call('ZREM', SCHEDULED, id) end
      redis.call('ZREM', queue_key(queue, state), id)
    end
    redis.call('ZREM', queue_key(queue, 'jobs'), id)
    release_key(job[3], id)
    drop_reservation(job[5], id)
    redis.call('DEL', key)
    touched[queue] = true
    deleted = deleted + 1
  end
end
-- A queue left without jobs is forgotten (it comes back with its next job).
for queue in pairs(touched) do
  if redis.call('ZCARD', queue_key(queue, 'jobs')) == 0 then
    redis.call('SREM', QUEUES, queue)
    redis.call('DEL', queue_key(queue, 'wake'))
  end
end
return deleted
