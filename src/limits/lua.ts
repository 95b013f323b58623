/**
 * Lua scripts for the Redis backend. Same semantics as MemoryBackend (see meters.ts). Time comes
 * from Redis `TIME` inside the script, so nodes with skewed clocks agree; ARGV[1] may override it
 * (tests and replays). Numbers are integers in doubles (exact below 2^53) and are written with
 * `%.0f` so no precision is lost on the way through Redis strings.
 */

const PRELUDE = `
local function now_us()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function fmt(n) return string.format('%.0f', n) end
-- Expiry in ms for state that stops mattering in 'us' µs. Under a time override the script's
-- clock is not Redis's, so keys are kept at least an hour instead.
local function px(us)
  local ms = math.floor(us / 1000) + 2
  if ARGV[1] ~= '' and ms < 3600000 then ms = 3600000 end
  return string.format('%.0f', ms)
end
local floor = math.floor
-- A rate meter's value is 'TAT:interval' (a bare TAT, written by an earlier version, is taken as
-- counted in the interval in force). in_force: the TAT to judge by, the backlog re-expressed in
-- the interval in force when it was counted in another (see meters.ts).
local function gcra_get(key)
  local s = redis.call('GET', key)
  if not s then return 0, 0 end
  local t, i = string.match(s, '^(%d+):(%d+)$')
  if t then return tonumber(t), tonumber(i) end
  return tonumber(s), 0
end
local function in_force(tat, iv, now, interval)
  if tat <= now then return now end
  if iv == interval or interval <= 0 or iv <= 0 then return tat end
  return now + math.ceil((tat - now) * interval / iv)
end
local function gcra_set(key, tat, interval, now)
  redis.call('SET', key, fmt(tat) .. ':' .. fmt(interval), 'PX', px(tat - now))
end
local DAY = 86400000000
-- Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, UTC).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m > 2) and (m - 3) or (m + 9)
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function window(now, kind)
  local day = floor(now / DAY)
  if kind == 'd' then return day, (day + 1) * DAY end
  local z = day + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local m = (mp < 10) and (mp + 3) or (mp - 9)
  if m <= 2 then y = y + 1 end
  local ny, nm = y, m + 1
  if nm > 12 then ny, nm = y + 1, 1 end
  return y * 12 + (m - 1), days_from_civil(ny, nm, 1) * DAY
end
`;

/**
 * How long an admitted decision's mark (see DECIDE_LUA) is kept when its request never settles in
 * Redis, ms: a decision whose answer was lost is refunded if Redis is back within this time. The
 * tombstone an undo leaves (SETTLE_LUA) is kept as long: a lost decision that reaches Redis after
 * its undo, within this time, is refused.
 */
export const DECIDED_MARK_MS = 15 * 60_000;

/**
 * KEYS: one per meter, then the decision's mark. ARGV: now override ('' = TIME), lease id, lease
 * TTL µs, then four slots per meter: 'g' interval tolerance cost | 'c' limit - - | 'b' d|m limit cost.
 * Returns: allowed (1/0), now, then per meter: ok, remaining, reset µs, retry µs, then the number
 * of expired leases removed (slots held by requests whose node stopped renewing them: it died).
 * A lease id '' (PEEK_LEASE) only asks: nothing is written but the expired leases' removal.
 * An admitted decision sets its mark (deleted when the request settles): a node that lost the
 * answer can tell afterwards whether the script ran, and undo it exactly once (SETTLE_LUA).
 * Returns {-1, now} without charging anything when the decision was undone already (its undo's
 * tombstone is there): a lost decision that reaches Redis after its undo (delayed by a proxy, or
 * resent by a client after a reconnection) is not charged with nothing left to refund it.
 */
export const DECIDE_LUA = `${PRELUDE}
local now = now_us()
local lease = ARGV[2]
local ttl = tonumber(ARGV[3])
local n = #KEYS - 1
local mark = KEYS[#KEYS]
local state = redis.call('GET', mark)
if state == 'undone' or state == 'refunded' then return {-1, now} end
local out = {0, now}
local reclaimed = 0
local allowed = true
local writes = {}
for k = 1, n do
  local base = 3 + (k - 1) * 4
  local typ = ARGV[base + 1]
  local key = KEYS[k]
  local ok, remaining, reset, retry = 0, 0, 0, 0
  if typ == 'g' then
    local interval = tonumber(ARGV[base + 2])
    local tol = tonumber(ARGV[base + 3])
    local cost = tonumber(ARGV[base + 4])
    if interval < 0 then
      retry = -1
    else
      local stored, iv = gcra_get(key)
      local tat = in_force(stored, iv, now, interval)
      local new_tat = tat + cost * interval
      local allow_at = new_tat - tol
      if allow_at <= now then
        ok = 1
        remaining = floor((tol - (new_tat - now)) / interval)
        reset = new_tat - now
        writes[#writes + 1] = {'g', key, new_tat, interval}
      else
        remaining = floor((tol - (tat - now)) / interval)
        if remaining < 0 then remaining = 0 end
        reset = tat - now
        if cost * interval > tol then retry = -1 else retry = allow_at - now end
      end
    end
  elseif typ == 'c' then
    local limit = tonumber(ARGV[base + 2])
    reclaimed = reclaimed + redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
    local count = redis.call('ZCARD', key)
    if count < limit then
      ok = 1
      remaining = limit - count - 1
      writes[#writes + 1] = {'c', key}
    else
      if limit <= 0 then
        retry = -1
      else
        -- concurrencyRetryUs (meters.ts): a slot held by a lease not renewed for half a lease frees at its expiry
        retry = -2
        local frees = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
        if frees[2] then
          local left = tonumber(frees[2]) - now
          if left > 0 and left < ttl / 2 then retry = left end
        end
      end
    end
  else
    local wid, wend = window(now, ARGV[base + 2])
    local limit = tonumber(ARGV[base + 3])
    local cost = tonumber(ARGV[base + 4])
    local st = redis.call('HMGET', key, 'w', 'u')
    local used = 0
    if st[1] and tonumber(st[1]) == wid then used = tonumber(st[2]) end
    reset = wend - now
    if used + cost <= limit then
      ok = 1
      remaining = limit - used - cost
      writes[#writes + 1] = {'b', key, wid, used + cost, wend}
    else
      remaining = limit - used
      if remaining < 0 then remaining = 0 end
      if cost > limit then retry = -1 else retry = wend - now end
    end
  end
  if ok == 0 then allowed = false end
  out[#out + 1] = ok
  out[#out + 1] = remaining
  out[#out + 1] = reset
  out[#out + 1] = retry
end
if allowed then out[1] = 1 end
-- A peek (no lease id: PEEK_LEASE) only answers.
if allowed and lease ~= '' then
  for i = 1, #writes do
    local w = writes[i]
    if w[1] == 'g' then
      gcra_set(w[2], w[3], w[4], now)
    elseif w[1] == 'c' then
      redis.call('ZADD', w[2], fmt(now + ttl), lease)
      redis.call('PEXPIRE', w[2], px(ttl + 1000000))
    else
      redis.call('HSET', w[2], 'w', fmt(w[3]), 'u', fmt(w[4]))
      redis.call('PEXPIRE', w[2], px(w[5] - now + 60000000))
    end
  end
  redis.call('SET', mark, '1', 'PX', '${DECIDED_MARK_MS}')
end
out[#out + 1] = reclaimed
return out
`;

/**
 * KEYS: one budget counter each. ARGV: now override ('' = TIME), then 'd' or 'm' per key.
 * Returns now, then each budget's spend in its window as of now (0 in a window nothing was spent
 * in yet). Reads only: the admin API's budget answers.
 */
export const BUDGETS_LUA = `${PRELUDE}
local now = now_us()
local out = {now}
for k = 1, #KEYS do
  local wid = window(now, ARGV[k + 1])
  local st = redis.call('HMGET', KEYS[k], 'w', 'u')
  local used = 0
  if st[1] and tonumber(st[1]) == wid then used = tonumber(st[2]) end
  out[#out + 1] = used
end
return out
`;

/**
 * KEYS: one per meter to settle, then the decision's mark. ARGV: now override, lease id, '1' to
 * settle only a decision that ran and was not undone yet (its mark is there), then three slots per
 * meter: 'g' interval delta | 'c' - - | 'b' window-id delta. A settle deletes the mark; a
 * conditional one (an undo) replaces it with a tombstone kept as long as a mark, whether the
 * decision ran or not, so that the decision, if it reaches Redis later, is not run (DECIDE_LUA).
 * Returns now, or, for a conditional settle that did nothing: -1 when the decision never ran (no
 * mark, or the tombstone of an undo that found none), -2 when an earlier undo refunded it already
 * (one that timed out on its way and is tried again).
 */
export const SETTLE_LUA = `${PRELUDE}
local now = now_us()
local lease = ARGV[2]
local n = #KEYS - 1
local mark = KEYS[#KEYS]
if ARGV[3] == '1' then
  local state = redis.call('GET', mark)
  if state == 'refunded' then return -2 end
  if state ~= '1' then
    redis.call('SET', mark, 'undone', 'PX', '${DECIDED_MARK_MS}')
    return -1
  end
  redis.call('SET', mark, 'refunded', 'PX', '${DECIDED_MARK_MS}')
else
  redis.call('DEL', mark)
end
for k = 1, n do
  local base = 3 + (k - 1) * 3
  local typ = ARGV[base + 1]
  local key = KEYS[k]
  if typ == 'g' then
    local interval = tonumber(ARGV[base + 2])
    local delta = tonumber(ARGV[base + 3])
    if delta ~= 0 and interval > 0 then
      -- the delta is in units: counted in the interval the backlog is held in
      local tat, iv = gcra_get(key)
      if tat > now then
        if iv > 0 then interval = iv end
      else
        tat = now
      end
      local nxt = tat + delta * interval
      if nxt <= now then redis.call('DEL', key)
      else gcra_set(key, nxt, interval, now) end
    end
  elseif typ == 'c' then
    redis.call('ZREM', key, lease)
  else
    local wid = tonumber(ARGV[base + 2])
    local delta = tonumber(ARGV[base + 3])
    if delta ~= 0 then
      local st = redis.call('HMGET', key, 'w', 'u')
      if st[1] and tonumber(st[1]) == wid then
        local u = tonumber(st[2]) + delta
        if u < 0 then u = 0 end
        redis.call('HSET', key, 'u', fmt(u))
      end
    end
  end
end
return now
`;

/** KEYS: concurrency sets. ARGV: now override, lease TTL µs, then one lease id per key. Returns the expired leases removed. */
export const RENEW_LUA = `${PRELUDE}
local now = now_us()
local ttl = tonumber(ARGV[2])
local reclaimed = 0
for k = 1, #KEYS do
  -- An expired lease is gone for good: purge first so it is not revived.
  reclaimed = reclaimed + redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', fmt(now))
  if redis.call('ZADD', KEYS[k], 'XX', 'CH', fmt(now + ttl), ARGV[2 + k]) == 1 then
    redis.call('PEXPIRE', KEYS[k], px(ttl + 1000000))
  end
end
return reclaimed
`;
