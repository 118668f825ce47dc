-- Move the best due jobs of some queues to running for one worker: first
-- scheduled jobs whose time has come become queued (in every queue, as on
-- the other stores), then the best `limit` queued jobs of these queues are
-- taken by priority, run_at and enqueue order.
-- KEYS: running, scheduled
-- ARGV: worker, limit, lease, queue... (distinct names)
-- Returns the claimed records, best first.

local worker, limit, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = clock()
local nowf, expires = fmt(now), fmt(now + lease)
-- Due jobs staged per call, oldest first: a burst of them is moved over
-- several claims rather than in one long script.
local STAGE_MAX = 1000

local due = redis.call('ZRANGEBYSCORE', SCHEDULED, '-inf', nowf, 'LIMIT', 0, STAGE_MAX)
if #due > 0 then
  for _, id in ipairs(due) do
    local key = job_key(id)
    local job = redis.call('HMGET', key, 'state', 'queue', 'priority', 'rank')
    if job[1] == 'scheduled' then
      redis.call('HSET', key, 'state', 'queued')
      redis.call('ZADD', queue_key(job[2], 'ready'), ready_score(job[3]), job[4])
      later('ZREM', queue_key(job[2], 'scheduled'), id)
    end
  end
  redis.call('ZREM', SCHEDULED, unpack(due))
end

-- Paused queues are left out (one SCARD when none is paused).
local queues = {}
local any_paused = redis.call('SCARD', PAUSED) > 0
for i = 4, #ARGV do
  if not any_paused or redis.call('SISMEMBER', PAUSED, ARGV[i]) == 0 then
    queues[#queues + 1] = ARGV[i]
  end
end

local members = {}
if #queues == 1 then
  local popped = redis.call('ZPOPMIN', queue_key(queues[1], 'ready'), limit)
  for i = 1, #popped, 2 do members[#members + 1] = popped[i] end
elseif #queues > 1 then
  -- Merge the heads of every queue; the best `limit` of them are taken.
  local heads = {}
  for _, name in ipairs(queues) do
    local ready = queue_key(name, 'ready')
    local top = redis.call('ZRANGE', ready, 0, limit - 1, 'WITHSCORES')
    for j = 1, #top, 2 do
      local m = top[j]
      heads[#heads + 1] = {
        tonumber(top[j + 1]), tonumber(string.sub(m, 1, 16)), tonumber(string.sub(m, 17, 32)),
        m, ready,
      }
    end
  end
  table.sort(heads, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[3] < b[3]
  end)
  local taken = {}
  for i = 1, math.min(limit, #heads) do
    members[i] = heads[i][4]
    local list = taken[heads[i][5]]
    if not list then list = {}; taken[heads[i][5]] = list end
    list[#list + 1] = heads[i][4]
  end
  for ready, list in pairs(taken) do redis.call('ZREM', ready, unpack(list)) end
end

local out = {}
local state, attempt, started, lease_at, owner =
  COL['state'], COL['attempt'], COL['started_at'], COL['lease_expires_at'], COL['worker']
for _, member in ipairs(members) do
  local id = rank_id(member)
  local key = job_key(id)
  local job = read(id)
  if job[state] == 'queued' then
    local next_attempt = tostring(tonumber(job[attempt]) + 1)
    redis.call('HSET', key, 'state', 'running', 'attempt', next_attempt, 'started_at', nowf,
      'lease_expires_at', expires, 'worker', worker)
    job[state], job[attempt], job[started], job[lease_at], job[owner] =
      'running', next_attempt, nowf, expires, worker
    later('ZADD', RUNNING, expires, id)
    out[#out + 1] = job
  end
end
flush()
return out
