-- Read-only: everything one routing decision needs, in one round trip.
-- KEYS: ready, astate, calls, cfgver, rr, q1..qn
-- ARGV: k, offset, n_calls, call ids..., n_agents, agent ids...
-- Returns: {cfgver, ready (id, score, ...), {per queue: {card, blobs}}, explicit call blobs,
--           agent ids, agent state blobs, rr (queue, agent, ...)}
local k = tonumber(ARGV[1])
local off = tonumber(ARGV[2])
local want = {}
local order = {}
local function want_agent(id)
  if id and id ~= '' and not want[id] then
    want[id] = true
    order[#order + 1] = id
  end
end
local ready = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #ready, 2 do want_agent(ready[i]) end
local function prefs(blobs)
  for _, b in ipairs(blobs) do
    if b then want_agent(string.match(b, '"pa":"([^"]+)"')) end
  end
end
local queues = {}
for qi = 6, #KEYS do
  local ids = redis.call('ZRANGE', KEYS[qi], off, off + k - 1)
  local blobs = {}
  if #ids > 0 then blobs = redis.call('HMGET', KEYS[3], unpack(ids)) end
  prefs(blobs)
  queues[#queues + 1] = {redis.call('ZCARD', KEYS[qi]), blobs}
end
local n_calls = tonumber(ARGV[3])
local explicit = {}
if n_calls > 0 then
  local ids = {}
  for i = 1, n_calls do ids[i] = ARGV[3 + i] end
  explicit = redis.call('HMGET', KEYS[3], unpack(ids))
  prefs(explicit)
end
local base = 4 + n_calls
local n_agents = tonumber(ARGV[base])
for i = 1, n_agents do want_agent(ARGV[base + i]) end
local states = {}
if #order > 0 then states = redis.call('HMGET', KEYS[2], unpack(order)) end
return {redis.call('GET', KEYS[4]) or '0', ready, queues, explicit, order, states, redis.call('HGETALL', KEYS[5])}
