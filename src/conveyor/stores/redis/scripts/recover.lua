-- Jobs whose lease expired go back to queued, their attempt kept, or end
-- dead (worker_lost) when they have no attempts left; either way a
-- WorkerLost error is appended. The running zset is ordered by lease expiry,
-- so the expired ones are its head.
-- KEYS: running, keys
-- ARGV: how many expired leases to look at, at most
-- Returns {moved, looked at}.

local now = clock()
local nowf = fmt(now)
local expired = redis.call('ZRANGEBYSCORE', RUNNING, '-inf', '(' .. nowf, 'LIMIT', 0, tonumber(ARGV[1]))
local moved = 0

for _, id in ipairs(expired) do
  local key = job_key(id)
  local job = redis.call('HMGET', key,
    'state', 'attempt', 'max_attempts', 'worker', 'queue', 'key', 'errors', 'priority', 'seq')
  if job[1] == 'running' then
    local queue = job[5]
    local errors = append_error(job[7], cjson.encode({
      attempt = tonumber(job[2]),
      type = 'WorkerLost',
      message = 'lease expired: worker ' .. (job[4] or '?') .. ' stopped heartbeating',
      traceback = '',
      at = now,
    }))
    local fields = {'errors', errors, 'lease_expires_at', false, 'worker', false}
    if tonumber(job[2]) >= tonumber(job[3]) then
      for _, v in ipairs({'state', 'dead', 'reason', 'worker_lost', 'finished_at', nowf}) do
        fields[#fields + 1] = v
      end
      later('ZADD', queue_key(queue, 'dead'), nowf, id)
      release_key(job[6], id)
    else
      local member = rank(now, job[9], id)
      for _, v in ipairs({'state', 'queued', 'run_at', nowf, 'rank', member}) do
        fields[#fields + 1] = v
      end
      later('ZADD', queue_key(queue, 'ready'), ready_score(job[8]), member)
      wake(queue)
    end
    update(key, fields)
    moved = moved + 1
  end
end
if #expired > 0 then redis.call('ZREM', RUNNING, unpack(expired)) end
flush()
return {moved, #expired}
