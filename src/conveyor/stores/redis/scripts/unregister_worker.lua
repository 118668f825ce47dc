-- Forget a worker, and every worker silent for `forget_after` seconds:
-- killed workers never unregister themselves.
-- KEYS: workers, workers:seen
-- ARGV: worker id, forget_after

local gone = redis.call('ZRANGEBYSCORE', SEEN, '-inf', '(' .. fmt(clock() - tonumber(ARGV[2])))
gone[#gone + 1] = ARGV[1]
for i = 1, #gone, CHUNK do
  local last = math.min(i + CHUNK - 1, #gone)
  redis.call('HDEL', WORKERS, unpack(gone, i, last))
  redis.call('ZREM', SEEN, unpack(gone, i, last))
end
return #gone
