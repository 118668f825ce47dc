-- Insert jobs, all or none. A job whose unique key an active job holds is
-- not inserted: that job comes back in its place.
-- KEYS: seq, queues, keys, scheduled
-- ARGV: runs of jobs that share their options (a batch from one task call
--   is one run), each: task, queue, priority, max_attempts, timeout ('' for
--   none), delay, at ('' for none), the run's job count, then per job: id,
--   payload, key (optional). Three arguments a job instead of ten cost about
--   2 µs less a job to send and read.
-- Returns {created_at, one entry per job}, an entry being
--   ''                 a job inserted now, queued at created_at (the usual case),
--   'q' or 's' .. run_at a job inserted now, queued or scheduled at run_at,
--   an index           the job at that 1-based index was inserted for this one,
--   a record           the stored job returned in its place.
-- Short entries because the caller rebuilds the records it sent.

local OPTIONS, PER_JOB = 8, 3
local now = clock()
local nowf = fmt(now)
-- Per job: its id, payload, key (false: none) and its run. What a run's jobs
-- share is worked out once per run: when they are due, in which state, the
-- time part of their rank and their queue's keys.
local ids, payloads, keys, runs, run_list = {}, {}, {}, {}, {}
local n, i = 0, 1
while i <= #ARGV do
  local run = {
    task = ARGV[i], queue = ARGV[i + 1], priority = ARGV[i + 2],
    max_attempts = ARGV[i + 3], timeout = ARGV[i + 4],
    -- Sorted-set arguments of its inserted jobs, written once after them:
    -- {seq, id, ...} for the queue's listing, and {score, rank, ...} for
    -- its ready set or {run_at, id, ...} for the scheduled sets.
    inserted = 0, listed = {}, due = {},
  }
  if ARGV[i + 6] ~= '' then run.at = tonumber(ARGV[i + 6]) else run.at = now + tonumber(ARGV[i + 5]) end
  run.state, run.atf, run.rank_time, run.entry = 'queued', nowf, rank_time(run.at), ''
  if run.at > now then run.state = 'scheduled' end
  if run.at ~= now then
    run.atf = fmt(run.at)
    run.entry = string.sub(run.state, 1, 1) .. run.atf
  end
  run.score = ready_score(run.priority)
  run.jobs = queue_key(run.queue, 'jobs')
  run_list[#run_list + 1] = run
  local b = i + OPTIONS
  for _ = 1, tonumber(ARGV[b - 1]) do
    n = n + 1
    ids[n], payloads[n], keys[n], runs[n] = ARGV[b], ARGV[b + 1], optional(ARGV[b + 2]), run
    b = b + PER_JOB
  end
  i = b
end

-- Decide everything before writing anything: a script that fails part way
-- keeps its earlier writes. A plan is the index of the job inserted for this
-- one, or the id of a stored job to return instead.
local plan, by_id, by_key, job_keys = {}, {}, {}, {}
for j = 1, n do job_keys[j] = job_key(ids[j]) end
-- Whether any id is stored already (a batch sent again): one EXISTS over the
-- batch spares one per job in the usual case, where none is.
local resent = false
for i = 1, n, CHUNK do
  if redis.call('EXISTS', unpack(job_keys, i, math.min(i + CHUNK - 1, n))) > 0 then
    resent = true
    break
  end
end
local inserting = 0
for j = 1, n do
  local id, key = ids[j], keys[j]
  local same = by_id[id] or (key and by_key[key])
  if same then
    plan[j] = same
  elseif resent and redis.call('EXISTS', job_keys[j]) == 1 then
    plan[j] = id  -- already stored: this is a retried enqueue
  else
    local holder = key and key_holder(key)
    if holder then
      plan[j] = holder
    else
      plan[j] = j
      by_id[id] = j
      if key then by_key[key] = j end
      inserting = inserting + 1
    end
  end
end

local seq = 0
if inserting > 0 then seq = redis.call('INCRBY', SEQ, inserting) - inserting end
local out = {nowf}
for j = 1, n do
  local p = plan[j]
  if p == j then
    local run, id, key = runs[j], ids[j], keys[j]
    seq = seq + 1
    local seqf = int(seq)
    local member = ranked(run.rank_time, seqf, id)
    -- The usual fields in one call, no table built and unpacked per job.
    redis.call('HSET', job_keys[j],
      'id', id, 'task', run.task, 'queue', run.queue, 'payload', payloads[j],
      'state', run.state, 'priority', run.priority, 'attempt', '0',
      'max_attempts', run.max_attempts, 'run_at', run.atf, 'created_at', nowf,
      'seq', seqf, 'rank', member)
    if run.timeout ~= '' then redis.call('HSET', job_keys[j], 'timeout', run.timeout) end
    if key then
      redis.call('HSET', job_keys[j], 'key', key)
      redis.call('HSET', UNIQUE, key, id)
    end
    local k = 2 * run.inserted + 2
    run.inserted = run.inserted + 1
    run.listed[k - 1], run.listed[k] = seqf, id
    if run.state == 'scheduled' then
      run.due[k - 1], run.due[k] = run.atf, id
    else
      run.due[k - 1], run.due[k] = run.score, member
    end
    out[j + 1] = run.entry
  elseif type(p) == 'number' then
    out[j + 1] = p
  else
    out[j + 1] = read(p)
  end
end

-- A run's sorted sets in one call each; its queue gets a wake-up per job,
-- also for scheduled jobs: a blocked worker recomputes the next due time.
for _, run in ipairs(run_list) do
  if run.inserted > 0 then
    call_chunked('ZADD', run.jobs, run.listed)
    if run.state == 'scheduled' then
      call_chunked('ZADD', queue_key(run.queue, 'scheduled'), run.due)
      call_chunked('ZADD', SCHEDULED, run.due)
    else
      call_chunked('ZADD', queue_key(run.queue, 'ready'), run.due)
    end
    redis.call('SADD', QUEUES, run.queue)
    wake(run.queue, run.inserted)
  end
end
flush()
return out
