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
if c.u ~= '' and redis.call('HGET', KEYS[4], c.u) == ARGV[1] then redis.call('HDEL', KEYS[4], c.u) end
if c.al and c.al ~= '' and redis.call('HGET', KEYS[4], c.al) == ARGV[1] then redis.call('HDEL', KEYS[4], c.al) end
if c.ag ~= '' then
  local a = getj(KEYS[5], c.ag)
  if a and a.c == ARGV[1] then
    a.c = ''
    a.t = now
    if c.st == 'connected' then
      local wrap_until = tonumber(ARGV[3])
      if wrap_until > now then
        a.s = 'wrap_up'
        a.u = wrap_until
      else
        a.s = 'ready'
        a.i = now
        a.u = 0
      end
    elseif a.s == 'ringing' then
      a.s = 'ready'
    end
    put_agent(KEYS[5], KEYS[6], KEYS[7], c.ag, a)
    emit(KEYS[8], ARGV[4], 'type', 'agent', 'agent', c.ag, 'state', a.s, 'reason', a.r, 'origin', ARGV[5])
  end
end
emit(KEYS[8], ARGV[4], 'type', 'ended', 'call', ARGV[1], 'agent', c.ag, 'queue', c.q, 'outcome', outcome,
  'cause', ARGV[6], 'origin', ARGV[5])
return {outcome, raw}
