-- Record a worker as alive and extend the leases it still holds.
-- KEYS: workers, workers:seen, running
-- ARGV: worker id, worker info (JSON), lease seconds, then id, attempt per lease
-- A lease extends only while its job is running at that attempt.
-- Returns the ids of the leases it could not extend.

local now = clock()
local worker = ARGV[1]
-- The first report of a worker is kept; later beats only say it is alive.
redis.call('HSETNX', WORKERS, worker, ARGV[2])
redis.call('ZADD', SEEN, fmt(now), worker)

local expires = fmt(now + tonumber(ARGV[3]))
local lost = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local key = job_key(id)
  local job = redis.call('HMGET', key, 'state', 'attempt')
  if job[1] == 'running' and tonumber(job[2]) == tonumber(ARGV[i + 1]) then
    redis.call('HSET', key, 'lease_expires_at', expires)
    later('ZADD', RUNNING, expires, id)
  else
    lost[#lost + 1] = id
  end
end
flush()
return lost
