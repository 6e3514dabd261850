-- Read-only: everything one routing decision needs, in one round trip.
-- KEYS: ready, astate, calls, cfgver, rr, q1..qn
-- ARGV: k, n_calls, call ids..., n_agents, agent ids...
-- The heads of the queues are merged in routing order (score, then id) and cut to k entries.
-- Returns: {cfgver, ready (id, score, ...), head blobs (ordered), total waiting in these queues,
--           explicit call blobs, agent ids, agent state blobs, rr (queue, agent, ...)}
local k = tonumber(ARGV[1])
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
local entries = {}
local total = 0
for qi = 6, #KEYS do
  local r = redis.call('ZRANGE', KEYS[qi], 0, k - 1, 'WITHSCORES')
  for i = 1, #r, 2 do entries[#entries + 1] = {tonumber(r[i + 1]), r[i]} end
  total = total + redis.call('ZCARD', KEYS[qi])
end
if #KEYS > 6 then
  table.sort(entries, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
end
local ids = {}
for i = 1, math.min(k, #entries) do ids[i] = entries[i][2] end
local head = {}
if #ids > 0 then head = redis.call('HMGET', KEYS[3], unpack(ids)) end
prefs(head)
local n_calls = tonumber(ARGV[2])
local explicit = {}
if n_calls > 0 then
  local cids = {}
  for i = 1, n_calls do cids[i] = ARGV[2 + i] end
  explicit = redis.call('HMGET', KEYS[3], unpack(cids))
  prefs(explicit)
end
local base = 3 + n_calls
local n_agents = tonumber(ARGV[base])
for i = 1, n_agents do want_agent(ARGV[base + i]) end
local states = {}
if #order > 0 then states = redis.call('HMGET', KEYS[2], unpack(order)) end
return {redis.call('GET', KEYS[4]) or '0', ready, head, total, explicit, order, states, redis.call('HGETALL', KEYS[5])}
