-- The caller chose a callback: the entry keeps its place but no longer has a channel.
-- KEYS: calls, chan, events
-- ARGV: call_id, number, maxlen, origin
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'call_gone'} end
local c = cjson.decode(raw)
if c.st ~= 'waiting' then return {'err', 'call_' .. c.st} end
if c.u ~= '' and redis.call('HGET', KEYS[2], c.u) == ARGV[1] then redis.call('HDEL', KEYS[2], c.u) end
c.cb = 1
c.cn = ARGV[2]
c.ch = ''
c.u = ''
local encoded = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
emit(KEYS[3], ARGV[3], 'type', 'callback', 'call', ARGV[1], 'queue', c.q, 'origin', ARGV[4])
return {'ok', encoded}
