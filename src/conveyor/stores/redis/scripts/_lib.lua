-- Shared by every script: the store prepends to each one the definitions
-- of this file it uses (a script runs all of them on every call), with its
-- hash tag and the record's fields written in. Each top-level `local`
-- starts a definition, with the comment lines just above it.
--
-- Every key starts with the store's hash tag, so the keys a script builds
-- from the ids and queue names it reads lie in the slot of the store-wide
-- keys it declares in KEYS (Redis Cluster checks this); scripts name keys
-- through the names below, KEYS only declares them. A job is one hash with
-- the fields of JobRecord; None is an absent field.

local TAG = '__TAG__'
local SEQ = TAG .. ':seq'
local QUEUES = TAG .. ':queues'
local UNIQUE = TAG .. ':keys'
local RUNNING = TAG .. ':running'
-- Every scheduled job of every queue by run_at: claims stage from it.
local SCHEDULED = TAG .. ':scheduled'
local WORKERS = TAG .. ':workers'
local SEEN = TAG .. ':workers:seen'
-- Queues no claim takes from.
local PAUSED = TAG .. ':paused'
-- Periodic schedules: name -> the last tick fired.
local SCHEDULES = TAG .. ':schedules'

-- The positions of a record's fields in what read() returns.
local COL = {__POSITIONS__}

local ACTIVE = {scheduled = true, queued = true, running = true}
local FINISHED = {succeeded = true, dead = true, cancelled = true}

-- Tokens waiting in one queue's wake list; each wakes one blocked worker.
local WAKE_MAX = 16
-- Arguments per call when a batch is written in chunks (unpack has a limit).
local CHUNK = 1000
-- The largest integer a double holds exactly.
local EXACT = 9007199254740991

local function job_key(id) return TAG .. ':job:' .. id end
-- A rate bucket (next_free: its next unreserved admission time; last: its
-- last actual admission; holder: 'id:attempt' of that admission) and its
-- reservations (job id -> the time it holds).
local function rate_key(bucket) return TAG .. ':rate:' .. bucket end
local function reserved_key(bucket) return TAG .. ':reserved:' .. bucket end
-- A concurrency bucket's slots (job id -> the attempt holding it) and its
-- parked jobs (id -> when parked, oldest first).
local function slots_key(bucket) return TAG .. ':slots:' .. bucket end
local function parked_key(bucket) return TAG .. ':parked:' .. bucket end
local function queue_key(queue, part) return TAG .. ':q:' .. queue .. ':' .. part end

-- The store's clock: Redis TIME, in epoch seconds.
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Times keep their microseconds; a bare Lua number is written with 14 digits.
local function fmt(seconds) return string.format('%.6f', seconds) end
local function int(n) return string.format('%.0f', n) end

-- An optional string that may be empty arrives as '' (none) or '=' .. value.
local function optional(arg)
  if arg == '' then return false end
  return string.sub(arg, 2)
end

-- A ready zset scores a job by -priority (best first) and breaks ties by its
-- member: run_at in microseconds and the enqueue sequence, both fixed width,
-- then the id. Equal scores sort by member, so one ZRANGE gives claim order.
local function ready_score(priority) return 0 - tonumber(priority) end
-- The time part of a rank, shared by the jobs of one enqueue run.
local function rank_time(run_at)
  local us = math.floor(run_at * 1000000 + 0.5)
  if us < 0 then us = 0 elseif us > EXACT then us = EXACT end
  return string.format('%016.0f', us)
end
-- Pads a sequence number (the decimal string a job's hash holds) in a rank:
-- a cut of it costs half a string.format of the number.
local ZEROS = '0000000000000000'
local function ranked(time_part, seq, id)
  return time_part .. string.sub(ZEROS, #seq + 1) .. seq .. id
end
local function rank(run_at, seq, id) return ranked(rank_time(run_at), seq, id) end
local function rank_id(member) return string.sub(member, 33) end

-- A job's record: its hash fields in JobRecord order (false: absent).
local function read(id) return redis.call('HMGET', job_key(id), __COLUMNS__) end

-- Write fields of a job hash: {name, value, ...}; false removes the field.
local function update(key, fields)
  local set, del = {}, {}
  for i = 1, #fields, 2 do
    if fields[i + 1] == false then
      del[#del + 1] = fields[i]
    else
      set[#set + 1] = fields[i]
      set[#set + 1] = fields[i + 1]
    end
  end
  if #set > 0 then redis.call('HSET', key, unpack(set)) end
  if #del > 0 then redis.call('HDEL', key, unpack(del)) end
end

-- Append one ErrorInfo (a JSON object) to a job's JSON list of errors.
local function append_error(errors, err)
  if not errors or errors == '[]' then return '[' .. err .. ']' end
  return string.sub(errors, 1, -2) .. ',' .. err .. ']'
end

-- The id of the active job holding a unique key, or false. An entry left by
-- a job that is no longer active does not count.
local function key_holder(key)
  local id = redis.call('HGET', UNIQUE, key)
  if id and ACTIVE[redis.call('HGET', job_key(id), 'state')] then return id end
  return false
end

-- A job leaving the active states gives its unique key up.
local function release_key(key, id)
  if key and redis.call('HGET', UNIQUE, key) == id then redis.call('HDEL', UNIQUE, key) end
end

-- A job a rate limit put back holds a reservation in its bucket, named in
-- its hash ('reserved_in'), until admitted; cancelled or purged meanwhile, it
-- gives the entry up (else the bucket's hash would keep it for ever).
local function drop_reservation(bucket, id)
  if bucket then redis.call('HDEL', reserved_key(bucket), id) end
end

-- Sorted-set writes and wake-ups gathered over a batch, written once by flush().
local pending = {}
local woken = {}

local function later(command, key, a, b)
  local by_key = pending[command]
  if not by_key then by_key = {}; pending[command] = by_key end
  local args = by_key[key]
  if not args then args = {}; by_key[key] = args end
  args[#args + 1] = a
  if b ~= nil then args[#args + 1] = b end
end

-- Work may be due in `queue`: wake a blocked worker (BLPOP on the wake
-- list), or `n` of them.
local function wake(queue, n) woken[queue] = (woken[queue] or 0) + (n or 1) end

-- One command over many arguments, CHUNK of them a call.
local function call_chunked(command, key, args)
  for i = 1, #args, CHUNK do
    redis.call(command, key, unpack(args, i, math.min(i + CHUNK - 1, #args)))
  end
end

local function flush()
  for command, by_key in pairs(pending) do
    for key, args in pairs(by_key) do call_chunked(command, key, args) end
  end
  for queue, n in pairs(woken) do
    -- Read first: while no worker is idle the list stays full, and one read
    -- costs a script less than a push and a trim (writes are replicated).
    local key = queue_key(queue, 'wake')
    local room = WAKE_MAX - redis.call('LLEN', key)
    if room > 0 then
      local tokens = {}
      for i = 1, math.min(n, room) do tokens[i] = '1' end
      redis.call('LPUSH', key, unpack(tokens))
    end
  end
end

-- Running jobs by queue, read off the running zset: it holds only the jobs
-- workers hold, so it stays small whatever the backlog.
local function running_by_queue()
  local by_queue = {}
  for _, id in ipairs(redis.call('ZRANGE', RUNNING, 0, -1)) do
    local queue = redis.call('HGET', job_key(id), 'queue')
    if queue then
      local ids = by_queue[queue]
      if not ids then ids = {}; by_queue[queue] = ids end
      ids[#ids + 1] = id
    end
  end
  return by_queue
end


-- Live holders of a concurrency bucket's slots, dropping the slots whose
-- attempt no longer runs (a slot frees itself however its attempt ended).
-- Returns how many hold one, and whether `id` is among them.
local function slot_holders(bucket, id)
  local slots = slots_key(bucket)
  local entries = redis.call('HGETALL', slots)
  local held, mine = 0, false
  for i = 1, #entries, 2 do
    local job = redis.call('HMGET', job_key(entries[i]), 'state', 'attempt')
    if job[1] == 'running' and job[2] == entries[i + 1] then
      held = held + 1
      if entries[i] == id then mine = true end
    else
      redis.call('HDEL', slots, entries[i])
    end
  end
  return held, mine
end

-- Move a scheduled job's due time to `run_at` (its rank and both zsets).
local function reschedule(id, queue, seq, run_at)
  local at = fmt(run_at)
  redis.call('HSET', job_key(id), 'run_at', at, 'rank', rank(run_at, seq, id))
  redis.call('ZADD', queue_key(queue, 'scheduled'), at, id)
  redis.call('ZADD', SCHEDULED, at, id)
end
