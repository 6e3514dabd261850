-- The agent answered: call connected, agent on call. The agent's leg (when known) is indexed too, so that
-- the agent hanging up ends the call at once (the caller's own hang-up follows after the dialplan).
-- KEYS: calls, deadlines, astate, ready, wrap, events, chan
-- ARGV: call_id, now_ms, maxlen, origin, agent_leg_uniqueid ('' unknown)
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'call_gone'} end
local c = cjson.decode(raw)
local function index_leg()
  if ARGV[5] ~= '' and (c.al == nil or c.al == '') and ARGV[5] ~= c.u then
    c.al = ARGV[5]
    redis.call('HSET', KEYS[7], ARGV[5], ARGV[1])
    return true
  end
  return false
end
if c.st == 'connected' then
  if index_leg() then
    raw = cjson.encode(c)
    redis.call('HSET', KEYS[1], ARGV[1], raw)
  end
  return {'dup', raw}
end
if c.st ~= 'ringing' then return {'err', 'call_' .. c.st} end
local now = tonumber(ARGV[2])
c.st = 'connected'
c.an = now
index_leg()
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
