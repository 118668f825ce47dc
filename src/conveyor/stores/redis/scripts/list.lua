-- Jobs matching every filter given, newest (last enqueued) first.
-- KEYS: queues, running
-- ARGV: limit (negative for no limit), offset, queue (optional, '' for all),
--       task (optional, '' for any), state... (none for all)
-- Returns the records.
--
-- Per queue, the jobs of the chosen states are read from their state indexes
-- when those hold few enough; otherwise the queue's jobs are walked newest
-- first until enough match. Either way the work is bounded by one queue's
-- jobs, never by everything in Redis.

local limit, offset = tonumber(ARGV[1]), tonumber(ARGV[2])
local only, task = optional(ARGV[3]), optional(ARGV[4])
local GATHER_MAX = 10000
local PAGE = 256
local wanted, nstates = {}, 0
for i = 5, #ARGV do
  wanted[ARGV[i]] = true
  nstates = nstates + 1
end
if limit == 0 then return {} end
local want = math.huge
if limit > 0 then want = offset + limit end
local queues
if only then queues = {only} else queues = redis.call('SMEMBERS', QUEUES) end
local running = running_by_queue()

local function index_size(queue, state)
  if state == 'running' then return #(running[queue] or {}) end
  local part = state
  if state == 'queued' then part = 'ready' end
  return redis.call('ZCARD', queue_key(queue, part))
end

local function index_ids(queue, state)
  if state == 'running' then return running[queue] or {} end
  if state == 'queued' then
    local ids = redis.call('ZRANGE', queue_key(queue, 'ready'), 0, -1)
    for i, member in ipairs(ids) do ids[i] = rank_id(member) end
    return ids
  end
  return redis.call('ZRANGE', queue_key(queue, state), 0, -1)
end

local found = {}  -- {seq, id}
for _, queue in ipairs(queues) do
  local size = 0
  if nstates > 0 then
    for state in pairs(wanted) do size = size + index_size(queue, state) end
  end
  if nstates > 0 and size <= GATHER_MAX then
    for state in pairs(wanted) do
      for _, id in ipairs(index_ids(queue, state)) do
        local job = redis.call('HMGET', job_key(id), 'seq', 'task')
        if job[1] and (not task or job[2] == task) then
          found[#found + 1] = {tonumber(job[1]), id}
        end
      end
    end
  else
    local jobs = queue_key(queue, 'jobs')
    local start, matched = 0, 0
    while matched < want do
      local page = redis.call('ZREVRANGE', jobs, start, start + PAGE - 1, 'WITHSCORES')
      if #page == 0 then break end
      for j = 1, #page, 2 do
        local job = redis.call('HMGET', job_key(page[j]), 'state', 'task')
        if job[1] and (nstates == 0 or wanted[job[1]]) and (not task or job[2] == task) then
          found[#found + 1] = {tonumber(page[j + 1]), page[j]}
          matched = matched + 1
          if matched >= want then break end
        end
      end
      start = start + PAGE
    end
  end
end

table.sort(found, function(a, b) return a[1] > b[1] end)
local last = #found
if limit > 0 then last = math.min(last, offset + limit) end
local out = {}
for i = offset + 1, last do out[#out + 1] = read(found[i][2]) end
return out
