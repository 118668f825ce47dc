-- Let a claimed attempt start under its limits, or put its job back: the
-- rules of conveyor.stores._admission.decide. Concurrency first (a full
-- bucket parks the job), then the rate (a reservation that has come admits;
-- without one the bucket's next admission time admits if passed, else this
-- job reserves it and is put back until then).
-- KEYS: running, scheduled
-- ARGV: id, attempt, rate bucket ('' none), interval, concurrency bucket
--       ('' none), limit, park seconds, admit wait seconds
-- Returns the seconds the attempt waits before it starts, or nil if its job
-- was put back or is not running at that attempt.

local id, attempt = ARGV[1], ARGV[2]
local rate, interval = ARGV[3], tonumber(ARGV[4])
local bucket, limit, park = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local admit_wait = tonumber(ARGV[8])
local now = clock()
local key = job_key(id)
local job = redis.call('HMGET', key, 'state', 'attempt', 'queue', 'seq')
if job[1] ~= 'running' or job[2] ~= attempt then return false end

local admitted, parked, run_at = true, false, 0
if bucket ~= '' then
  local held, mine = slot_holders(bucket, id)
  if not mine and held >= limit then admitted, parked, run_at = false, true, now + park end
end

-- Admissions are at least `interval` apart in actual time (less SLACK for
-- times kept to the microsecond), so a late attempt never lets the next one
-- start too soon. The start is the bucket's next free time, or the job's
-- reservation, whichever is later; within `admit_wait` the attempt is
-- admitted to wait for it in its worker, else it reserves that time and its
-- job is put back until then. An attempt asking again after missing the
-- start it was admitted for, while still the bucket's last admission,
-- starts now, and the bucket counts from now.
local SLACK = 0.001
local start = now
if admitted and rate ~= '' then
  local reserved, state = reserved_key(rate), rate_key(rate)
  local holder = id .. ':' .. attempt
  local reservation = tonumber(redis.call('HGET', reserved, id))
  local known = redis.call('HMGET', state, 'next_free', 'last', 'holder')
  local next_free, last = tonumber(known[1]), tonumber(known[2])
  local earliest = now
  if last then earliest = last + interval - SLACK end
  if not reservation and known[3] == holder and last and last <= now then
    start = now
    next_free = math.max(now + interval, next_free or 0)
  elseif reservation then
    start = math.max(now, earliest, reservation)
  else
    start = math.max(now, earliest, next_free or now)
    next_free = start + interval
  end
  if start - now <= admit_wait then
    redis.call('HDEL', reserved, id)
    redis.call('HDEL', key, 'reserved_in')
    local fields = {'last', fmt(start), 'holder', holder}
    if next_free then fields[5], fields[6] = 'next_free', fmt(next_free) end
    redis.call('HSET', state, unpack(fields))
  else
    admitted, run_at = false, start
    if not reservation then redis.call('HSET', state, 'next_free', fmt(next_free)) end
    redis.call('HSET', reserved, id, fmt(start))
    redis.call('HSET', key, 'reserved_in', rate)
  end
end

if admitted then
  if bucket ~= '' then redis.call('HSET', slots_key(bucket), id, attempt) end
  return fmt(start - now)
end
-- Put back: not an attempt, so it is given back, and no error is recorded.
if parked then redis.call('ZADD', parked_key(bucket), 'NX', fmt(now), id) end
redis.call('HSET', key, 'state', 'scheduled', 'attempt', tostring(tonumber(attempt) - 1))
redis.call('HDEL', key, 'lease_expires_at', 'worker')
redis.call('ZREM', RUNNING, id)
reschedule(id, job[3], job[4], run_at)
return false
