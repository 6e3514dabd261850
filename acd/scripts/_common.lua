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
