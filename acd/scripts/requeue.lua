-- A ringing call goes back to waiting at its old place (ring-no-answer, failed connect, recovery).
-- KEYS: calls, q, deadlines, astate, ready, wrap, events
-- ARGV: call_id, agent_id, now_ms, deadline_ms|'', mode ('pause'|'ready'), reason, maxlen, origin, queue, kind,
--       attempt ('' = whichever attempt is current)
-- Fenced by the attempt: a signal of an earlier attempt (a late DialEnd, SB_RONA_ATTEMPT or ring guard)
-- never ends the attempt that superseded it.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'call_gone'} end
local c = cjson.decode(raw)
if c.st ~= 'ringing' or c.ag ~= ARGV[2] then return {'err', 'stale'} end
if ARGV[11] ~= '' and tonumber(ARGV[11]) ~= c.a then return {'err', 'stale_attempt'} end
local now = tonumber(ARGV[3])
c.st = 'waiting'
c.ag = ''
c.rs = 0
c.o = ''
c.q = ARGV[9]
local encoded = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('ZADD', KEYS[2], score(c), ARGV[1])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1]) else redis.call('ZREM', KEYS[3], ARGV[1]) end
local a = getj(KEYS[4], ARGV[2])
if a and a.c == ARGV[1] then
  a.c = ''
  a.t = now
  if ARGV[5] == 'pause' then
    a.s = 'paused'
    a.r = ARGV[6]
  else
    a.s = 'ready'
  end
  put_agent(KEYS[4], KEYS[5], KEYS[6], ARGV[2], a)
  emit(KEYS[7], ARGV[7], 'type', 'agent', 'agent', ARGV[2], 'state', a.s, 'reason', a.r, 'origin', ARGV[8])
end
emit(KEYS[7], ARGV[7], 'type', 'requeued', 'call', ARGV[1], 'agent', ARGV[2], 'queue', ARGV[9],
  'kind', ARGV[10], 'origin', ARGV[8])
return {'ok', encoded}
