-- The one atomic step of routing: a waiting call and a ready agent become "ringing" together.
-- Several independent pairs may be given (a batch decided together); each is checked and moved on its own,
-- in order, so a later pair sees the earlier ones' effects.
-- KEYS: calls, deadlines, astate, ready, wrap, events, rr, then one queue key per pair
-- ARGV: now_ms, maxlen, origin, then per pair: call_id, agent_id, guard_ms, queue, explanation_json
-- Returns one {status, payload} per pair: {'ok', call blob} or {'err', reason}.
local now = tonumber(ARGV[1])
local maxlen, origin = ARGV[2], ARGV[3]

local function assign_one(qkey, call_id, agent_id, guard, queue, why)
  local raw = redis.call('HGET', KEYS[1], call_id)
  if not raw then return {'err', 'call_gone'} end
  local c = cjson.decode(raw)
  if c.st ~= 'waiting' then return {'err', 'call_' .. c.st} end
  if not redis.call('ZSCORE', qkey, call_id) then return {'err', 'call_not_in_queue'} end
  local a = getj(KEYS[3], agent_id)
  if not a then return {'err', 'agent_unknown'} end
  if a.s ~= 'ready' then return {'err', 'agent_' .. a.s} end
  if a.g ~= 1 then return {'err', 'agent_unregistered'} end
  if a.d ~= 0 then return {'err', 'agent_direct_call'} end
  if a.c ~= '' then return {'err', 'agent_busy'} end
  c.st = 'ringing'
  c.ag = agent_id
  c.a = c.a + 1
  c.at = now
  c.rs = 1  -- claimed for its Redirect by the controller that assigns (it sends it at once)
  c.o = origin
  local encoded = cjson.encode(c)
  redis.call('HSET', KEYS[1], call_id, encoded)
  redis.call('ZREM', qkey, call_id)
  redis.call('ZADD', KEYS[2], guard, call_id)
  a.s = 'ringing'
  a.c = call_id
  a.t = now
  put_agent(KEYS[3], KEYS[4], KEYS[5], agent_id, a)
  redis.call('HSET', KEYS[7], queue, agent_id)
  emit(KEYS[6], maxlen, 'type', 'assigned', 'call', call_id, 'agent', agent_id, 'queue', queue,
    'origin', origin, 'why', why)
  return {'ok', encoded}
end

local out = {}
local n = (#ARGV - 3) / 5
for i = 1, n do
  local b = 3 + (i - 1) * 5
  out[i] = assign_one(KEYS[7 + i], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5])
end
return out
