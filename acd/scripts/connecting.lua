-- Check (and claim) the current attempt's Redirect (or callback Originate) just before it is sent.
-- An assignment that was superseded meanwhile (requeued by its own no-answer, the ring guard, another
-- controller's recovery, or the caller hung up) fails here, so its Redirect is never sent: a call never
-- rings two agents and an agent never rings for a call that moved on.
-- KEYS: calls
-- ARGV: call_id, agent_id, attempt
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'call_gone'} end
local c = cjson.decode(raw)
if c.st ~= 'ringing' or c.ag ~= ARGV[2] or c.a ~= tonumber(ARGV[3]) then return {'err', 'superseded'} end
if c.rs == 1 then return {'ok', raw} end
c.rs = 1
local encoded = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return {'ok', encoded}
