-- Workers seen in the last `ttl` seconds of the store's clock.
-- KEYS: workers, workers:seen
-- ARGV: ttl
-- Returns {id, info (JSON), last_seen} per worker.

local seen = redis.call('ZRANGEBYSCORE', SEEN, fmt(clock() - tonumber(ARGV[1])), '+inf', 'WITHSCORES')
local out = {}
for i = 1, #seen, 2 do
  local info = redis.call('HGET', WORKERS, seen[i])
  if info then out[#out + 1] = {seen[i], info, seen[i + 1]} end
end
return out
