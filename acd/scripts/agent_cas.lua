-- Compare-and-set of one agent's state (the state machine runs in Python; this makes it atomic).
-- The stored JSON may have been rewritten by another script (other key order), so compare field by field.
-- KEYS: astate, ready, wrap, events
-- ARGV: agent_id, old_json ('' = must be absent), new_json, maxlen, origin
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  if cur then return {'conflict', cur} end
else
  if not cur then return {'conflict', ''} end
  local a, b = cjson.decode(cur), cjson.decode(ARGV[2])
  for _, f in ipairs({'s', 'r', 'c', 't', 'i', 'n', 'g', 'd', 'u'}) do
    if a[f] ~= b[f] then return {'conflict', cur} end
  end
end
local a = cjson.decode(ARGV[3])
put_agent(KEYS[1], KEYS[2], KEYS[3], ARGV[1], a)
emit(KEYS[4], ARGV[4], 'type', 'agent', 'agent', ARGV[1], 'state', a.s, 'reason', a.r, 'origin', ARGV[5])
return {'ok', ARGV[3]}
