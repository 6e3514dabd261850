-- The one atomic step of routing: a waiting call and a ready agent become "ringing" together.
-- KEYS: calls, q, deadlines, astate, ready, wrap, events, rr
-- ARGV: call_id, agent_id, now_ms, guard_ms, maxlen, origin, queue, explanation_json
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'call_gone'} end
local c = cjson.decode(raw)
if c.st ~= 'waiting' then return {'err', 'call_' .. c.st} end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {'err', 'call_not_in_queue'} end
local a = getj(KEYS[4], ARGV[2])
if not a then return {'err', 'agent_unknown'} end
if a.s ~= 'ready' then return {'err', 'agent_' .. a.s} end
if a.g ~= 1 then return {'err', 'agent_unregistered'} end
if a.d ~= 0 then return {'err', 'agent_direct_call'} end
if a.c ~= '' then return {'err', 'agent_busy'} end
local now = tonumber(ARGV[3])
c.st = 'ringing'
c.ag = ARGV[2]
c.a = c.a + 1
c.at = now
c.rs = 1  -- claimed for its Redirect by the controller that assigns (it sends it at once)
c.o = ARGV[6]
local encoded = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
a.s = 'ringing'
a.c = ARGV[1]
a.t = now
put_agent(KEYS[4], KEYS[5], KEYS[6], ARGV[2], a)
redis.call('HSET', KEYS[8], ARGV[7], ARGV[2])
emit(KEYS[7], ARGV[5], 'type', 'assigned', 'call', ARGV[1], 'agent', ARGV[2], 'queue', ARGV[7],
  'origin', ARGV[6], 'why', ARGV[8])
return {'ok', encoded}
