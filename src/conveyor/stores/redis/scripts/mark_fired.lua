-- Record the tick a periodic schedule fired for; a later tick is never
-- replaced by an earlier one.
-- KEYS: schedules
-- ARGV: schedule name, tick (epoch seconds)

local last = tonumber(redis.call('HGET', SCHEDULES, ARGV[1]))
if not last or tonumber(ARGV[2]) > last then redis.call('HSET', SCHEDULES, ARGV[1], ARGV[2]) end
return 0
