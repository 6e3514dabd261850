-- Overflow: a waiting call moves to another queue, keeping its place by wait time.
-- KEYS: calls, q_from, q_to, deadlines, events
-- ARGV: call_id, to_queue, skill, deadline_ms|'', maxlen, origin
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'call_gone'} end
local c = cjson.decode(raw)
if c.st ~= 'waiting' or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {'err', 'not_waiting_here'} end
if c.oq == '' then c.oq = c.q end
local from = c.q
c.q = ARGV[2]
c.sk = ARGV[3]
local encoded = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], score(c), ARGV[1])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1]) else redis.call('ZREM', KEYS[4], ARGV[1]) end
emit(KEYS[5], ARGV[5], 'type', 'moved', 'call', ARGV[1], 'from', from, 'queue', ARGV[2], 'origin', ARGV[6])
return {'ok', encoded}
