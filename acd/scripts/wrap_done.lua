-- The end of an agent's wrap-up (one round trip on the path that frees the agent).
-- KEYS: astate, ready, wrap, events
-- ARGV: agent_id, now_ms, maxlen, origin
local a = getj(KEYS[1], ARGV[1])
if not a or a.s ~= 'wrap_up' then return {'err', 'not_wrap_up'} end
local now = tonumber(ARGV[2])
if a.u > now then return {'err', 'not_yet'} end
a.s = 'ready'
a.t = now
a.i = now
a.u = 0
put_agent(KEYS[1], KEYS[2], KEYS[3], ARGV[1], a)
emit(KEYS[4], ARGV[3], 'type', 'agent', 'agent', ARGV[1], 'state', 'ready', 'reason', a.r, 'origin', ARGV[4])
return {'ok', cjson.encode(a)}
