-- Read-only: everything one routing decision needs, in one round trip.
-- KEYS: ready, astate, calls, cfgver, rr, q1..qn
-- ARGV: k, n_calls, call ids..., n_agents, agent ids..., per_agent, k_max, then one entry per queue:
--       the agents (1-based indexes into the agent ids) that serve it, comma-separated
-- The heads of the queues are merged in routing order (score, then id) and cut to k entries; when per_agent
-- is above 0 the merge goes on (up to k_max) until each given agent has per_agent calls of its own queues
-- in the head, so one agent's queues crowded out by the others' do not cost a second read.
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
-- A plain find, then an anchored match: a pattern search over every ~1 KB blob cost ~10 us each.
-- Inside a JSON string a quote is escaped, so '"pa":"' can only be the key itself.
local function prefs(blobs)
  for _, b in ipairs(blobs) do
    if b then
      local at = string.find(b, '"pa":"', 1, true)
      if at then want_agent(string.match(b, '^[^"]+', at + 6)) end
    end
  end
end
-- k-way merge of the sorted queues, reading each in small chunks: O(k * queues) cheap comparisons.
-- A queue's head score is converted once when it comes up (not at every comparison), and a queue is
-- read no further than its length (an empty one not at all).
local nq = #KEYS - 5
local total = 0
local bufs, pos, offs, card, hid, hs = {}, {}, {}, {}, {}, {}
local chunk = 8
local function advance(i)
  local b = bufs[i]
  if pos[i] > #b then
    if offs[i] >= card[i] then hid[i] = nil return end
    b = redis.call('ZRANGE', KEYS[5 + i], offs[i], offs[i] + chunk - 1, 'WITHSCORES')
    offs[i] = offs[i] + chunk
    bufs[i], pos[i] = b, 1
    if #b == 0 then hid[i] = nil return end
  end
  hid[i] = b[pos[i]]
  hs[i] = tonumber(b[pos[i] + 1])
end
for i = 1, nq do
  card[i] = redis.call('ZCARD', KEYS[5 + i])
  total = total + card[i]
  bufs[i], pos[i], offs[i] = {}, 1, 0
  advance(i)
end
local base = 3 + tonumber(ARGV[2])
local n_agents = tonumber(ARGV[base])
local per_agent = tonumber(ARGV[base + n_agents + 1] or '0')
local k_max = tonumber(ARGV[base + n_agents + 2] or '0')
local serves, seen, short = {}, {}, 0
if per_agent > 0 then
  for i = 1, n_agents do seen[i] = 0 end
  short = n_agents
  for i = 1, nq do
    local list = {}
    for idx in string.gmatch(ARGV[base + n_agents + 2 + i] or '', '%d+') do list[#list + 1] = tonumber(idx) end
    serves[i] = list
  end
end
local ids = {}
while #ids < k or (short > 0 and #ids < k_max) do
  local best, bs, bid = nil, 0, ''
  for i = 1, nq do
    local id = hid[i]
    if id then
      local sc = hs[i]
      if best == nil or sc < bs or (sc == bs and id < bid) then
        best, bs, bid = i, sc, id
      end
    end
  end
  if best == nil then break end
  ids[#ids + 1] = bid
  if short > 0 then
    for _, idx in ipairs(serves[best]) do
      seen[idx] = seen[idx] + 1
      if seen[idx] == per_agent then short = short - 1 end
    end
  end
  pos[best] = pos[best] + 2
  advance(best)
end
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
for i = 1, n_agents do want_agent(ARGV[base + i]) end
local states = {}
if #order > 0 then states = redis.call('HMGET', KEYS[2], unpack(order)) end
return {redis.call('GET', KEYS[4]) or '0', ready, head, total, explicit, order, states, redis.call('HGETALL', KEYS[5])}
