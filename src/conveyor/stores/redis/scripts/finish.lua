-- Apply a batch of attempt outcomes, each only while its job is running at
-- that attempt (the fence).
-- KEYS: running, keys, scheduled
-- ARGV: 8 per outcome: id, attempt, state (succeeded, scheduled, queued or
--       dead), delay, result, reason, error (JSON object); '' for none (none
--       of the three can be empty), refund ('1': the attempt is given back)
-- Returns how many applied.

local FIELDS = 8
local now = clock()
local nowf = fmt(now)
local applied = 0
local TARGETS = {succeeded = true, dead = true, scheduled = true, queued = true}
for i = 3, #ARGV, FIELDS do
  if not TARGETS[ARGV[i]] then
    return redis.error_reply('an attempt cannot end in state ' .. ARGV[i])
  end
end

for i = 1, #ARGV, FIELDS do
  local id, attempt, target = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = job_key(id)
  local job = redis.call('HMGET', key, 'state', 'attempt', 'queue', 'key', 'priority', 'seq')
  if job[1] == 'running' and tonumber(job[2]) == tonumber(attempt) then
    local queue = job[3]
    local result, reason = ARGV[i + 4], ARGV[i + 5]
    if result == '' then result = false end
    if reason == '' then reason = false end
    local fields = {
      'state', target, 'result', result, 'reason', reason,
      'lease_expires_at', false, 'worker', false,
    }
    if ARGV[i + 6] ~= '' then
      fields[#fields + 1] = 'errors'
      fields[#fields + 1] = append_error(redis.call('HGET', key, 'errors'), ARGV[i + 6])
    end
    if target == 'succeeded' or target == 'dead' then
      fields[#fields + 1] = 'finished_at'
      fields[#fields + 1] = nowf
      later('ZADD', queue_key(queue, target), nowf, id)
      release_key(job[4], id)
    else
      -- A retry after its delay, or a hand-back (its attempt given back).
      local run_at = now
      if target == 'scheduled' then run_at = now + tonumber(ARGV[i + 3]) end
      if ARGV[i + 7] == '1' then
        fields[#fields + 1] = 'attempt'
        fields[#fields + 1] = tostring(tonumber(job[2]) - 1)
      end
      local member = rank(run_at, job[6], id)
      for _, v in ipairs({'run_at', fmt(run_at), 'rank', member, 'finished_at', false}) do
        fields[#fields + 1] = v
      end
      if target == 'scheduled' then
        later('ZADD', queue_key(queue, 'scheduled'), fmt(run_at), id)
        later('ZADD', SCHEDULED, fmt(run_at), id)
      else
        later('ZADD', queue_key(queue, 'ready'), ready_score(job[5]), member)
      end
      wake(queue)
    end
    update(key, fields)
    later('ZREM', RUNNING, id)
    applied = applied + 1
  end
end
flush()
return applied
