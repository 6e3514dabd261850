-- The call a channel belongs to (the caller's channel, or the agent's leg once connected).
-- KEYS: chan, calls
-- ARGV: uniqueid
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
return redis.call('HGET', KEYS[2], id)
