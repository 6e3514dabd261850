-- The agent answered: call connected, agent on call.
-- KEYS: calls, deadlines, astate, ready, wrap, events
-- ARGV: call_id, now_ms, maxlen, origin
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'call_gone'} end
local c = cjson.decode(raw)
if c.st == 'connected' then return {'dup', raw} end
if c.st ~= 'ringing' then return {'err', 'call_' .. c.st} end
local now = tonumber(ARGV[2])
c.st = 'connected'
c.an = now
local encoded = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('ZREM', KEYS[2], ARGV[1])
local a = getj(KEYS[3], c.ag)
if a and a.c == ARGV[1] then
  a.s = 'on_call'
  a.t = now
  a.n = a.n + 1
  put_agent(KEYS[3], KEYS[4], KEYS[5], c.ag, a)
end
emit(KEYS[6], ARGV[3], 'type', 'connected', 'call', ARGV[1], 'agent', c.ag, 'queue', c.q, 'origin', ARGV[4])
return {'ok', encoded}
