-- A hang-up on a channel the ACD may know (the caller's, or the agent's leg): one round trip on the path
-- that frees an agent. Ends a connected call (completed; agent to wrap-up or ready) when either leg hangs
-- up, or a ringing call (abandoned; agent ready) when the caller does. A waiting call is only reported
-- ('waiting'): ending it touches its queue, whose key the caller of this script declares in end_call.
-- KEYS: chan, calls, deadlines, astate, ready, wrap, events, wrapq (queue -> wrap-up ms)
-- ARGV: uniqueid, now_ms, maxlen, origin, cause
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return {'none', ''} end
local raw = redis.call('HGET', KEYS[2], id)
if not raw then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'none', ''}
end
local c = cjson.decode(raw)
local agent_leg = c.al ~= nil and c.al ~= '' and c.al == ARGV[1]
if c.st == 'waiting' then return {'waiting', raw} end
if agent_leg and c.st ~= 'connected' then return {'ignored', raw} end
local now = tonumber(ARGV[2])
local outcome = 'abandoned'
if c.st == 'connected' then outcome = 'completed' end
redis.call('HDEL', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
unindex_call(KEYS[1], c, id)
local wrap = tonumber(redis.call('HGET', KEYS[8], c.q) or '0')
local wrap_until = 0
if wrap > 0 then wrap_until = now + wrap end
wrap_until = free_agent(KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[3], ARGV[4], c, id, now, wrap_until)
local cause = ARGV[5]
if agent_leg then cause = 'agent hung up' end
emit(KEYS[7], ARGV[3], 'type', 'ended', 'call', id, 'agent', c.ag, 'queue', c.q, 'outcome', outcome,
  'cause', cause, 'origin', ARGV[4])
return {outcome, raw, tostring(wrap_until)}
