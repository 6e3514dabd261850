-- Attach a (new) channel to a call: a callback that was answered, or a call found again after recovery.
-- KEYS: calls, chan
-- ARGV: call_id, channel, uniqueid
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'call_gone'} end
local c = cjson.decode(raw)
if c.u ~= '' and c.u ~= ARGV[3] and redis.call('HGET', KEYS[2], c.u) == ARGV[1] then
  redis.call('HDEL', KEYS[2], c.u)
end
c.ch = ARGV[2]
c.u = ARGV[3]
local encoded = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
return {'ok', encoded}
