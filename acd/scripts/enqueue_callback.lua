-- A callback the IVR asked for: a waiting call with no channel, its number already in the entry, added in
-- one step (it is never routable without the number it must call). A request is accepted once per call id:
-- a retry while the callback waits or rings finds the call, a retry after it ended finds the marker.
-- KEYS: calls, q, deadlines, events, marker
-- ARGV: call_id, call_json, score, deadline_ms|'', maxlen, origin, queue, remember_ms
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return {'dup', ARGV[1]}
end
if redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[8]) == false then
  return {'done', ARGV[1]}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1]) end
emit(KEYS[4], ARGV[5], 'type', 'enqueued', 'call', ARGV[1], 'queue', ARGV[7], 'origin', ARGV[6],
  'callback', '1')
return {'ok', ARGV[1]}
