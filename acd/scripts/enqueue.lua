-- KEYS: calls, q, deadlines, chan, events
-- ARGV: call_id, call_json, score, deadline_ms|'', uniqueid|'', maxlen, origin, queue
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return {'dup', ARGV[1]}
end
if ARGV[5] ~= '' then
  local other = redis.call('HGET', KEYS[4], ARGV[5])
  if other then return {'dup_channel', other} end
  redis.call('HSET', KEYS[4], ARGV[5], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1]) end
emit(KEYS[5], ARGV[6], 'type', 'enqueued', 'call', ARGV[1], 'queue', ARGV[8], 'origin', ARGV[7])
return {'ok', ARGV[1]}
