-- The caller's channel is gone. Waiting or ringing: an abandon. Connected: completed, agent to wrap-up.
-- KEYS: calls, q, deadlines, chan, astate, ready, wrap, events
-- ARGV: call_id, now_ms, wrap_until_ms (0: straight to ready), maxlen, origin, cause
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'call_gone'} end
local c = cjson.decode(raw)
local now = tonumber(ARGV[2])
local outcome = 'abandoned'
if c.st == 'connected' then outcome = 'completed' end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
unindex_call(KEYS[4], c, ARGV[1])
free_agent(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[4], ARGV[5], c, ARGV[1], now, tonumber(ARGV[3]))
emit(KEYS[8], ARGV[4], 'type', 'ended', 'call', ARGV[1], 'agent', c.ag, 'queue', c.q, 'outcome', outcome,
  'cause', ARGV[6], 'origin', ARGV[5])
return {outcome, raw}
