-- Shared helpers, prepended to every ACD script by acd/store.py.
-- Agent state lives in one hash (field = agent id, value = compact JSON); `ready` indexes the agents that
-- may be offered a call (score = idle since, ms) and `wrap` the wrap-up ends (score = until, ms).
local function getj(key, field)
  local raw = redis.call('HGET', key, field)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function put_agent(astate, ready, wrap, id, a)
  redis.call('HSET', astate, id, cjson.encode(a))
  if a.s == 'ready' and a.g == 1 and a.d == 0 and a.c == '' then
    redis.call('ZADD', ready, a.i, id)
  else
    redis.call('ZREM', ready, id)
  end
  if a.s == 'wrap_up' and a.u > 0 then
    redis.call('ZADD', wrap, a.u, id)
  else
    redis.call('ZREM', wrap, id)
  end
end

local function emit(stream, maxlen, ...)
  return redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', ...)
end

-- Same formula as acd.model.order_score: higher priority first, then earlier enqueue (exact in a double).
local function score(c)
  local p = math.min(math.max(c.p, 0), 99)
  return (99 - p) * 10000000000000 + c.t
end

-- The call `id` ended: drop its channels' index entries (caller's and agent's leg) if they still point at it.
local function unindex_call(chan, c, id)
  if c.u ~= '' and redis.call('HGET', chan, c.u) == id then redis.call('HDEL', chan, c.u) end
  if c.al and c.al ~= '' and redis.call('HGET', chan, c.al) == id then redis.call('HDEL', chan, c.al) end
end

-- The call `id` ended: its agent (if still on it) goes to wrap-up until `wrap_until` (ms) when the call was
-- connected and that is later than now, else ready. Returns the wrap-up end applied (0: none).
local function free_agent(astate, ready, wrap, events, maxlen, origin, c, id, now, wrap_until)
  if c.ag == '' then return 0 end
  local a = getj(astate, c.ag)
  if not a or a.c ~= id then return 0 end
  a.c = ''
  a.t = now
  local applied = 0
  if c.st == 'connected' then
    if wrap_until > now then
      a.s = 'wrap_up'
      a.u = wrap_until
      applied = wrap_until
    else
      a.s = 'ready'
      a.i = now
      a.u = 0
    end
  elseif a.s == 'ringing' then
    a.s = 'ready'
  end
  put_agent(astate, ready, wrap, c.ag, a)
  emit(events, maxlen, 'type', 'agent', 'agent', c.ag, 'state', a.s, 'reason', a.r, 'origin', origin)
  return applied
end
