package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The scripts carry a "#!lua" shebang (Redis 7): a writing script is then
// refused as a whole while the server is out of memory instead of failing
// half-way through, and a "no-writes" script may run with EVALSHA_RO on a
// replica. Numbers that become keys, fields or replies are formatted with
// string.format('%d') or kept as the strings Redis gave us: tostring() of a
// Lua number switches to exponent notation for large values.

// applySrc applies a batch of writes to one shard.
//
// KEYS[1] fencing counter, KEYS[2] lease, KEYS[3] revision, KEYS[4] change
// log, KEYS[5] the shard's epoch copy, KEYS[6..] object hashes and
// idempotency records, referred to by index.
// ARGV[1] batch token, ARGV[2] Batch.Now in ms, ARGV[3] log retention,
// ARGV[4] number of writes, ARGV[5] the bound epoch ("" = unbound, do not
// check), ARGV[6] "1" when the caller will WAIT after the script, then
// applyArgsPerWrite values per write: op ("put"/"delete"), object key index,
// idempotency key index (0 = none), namespace, name, value, IfVersion ("0" =
// none), IfAbsent ("0"/"1"), fingerprint, idempotency TTL in ms.
//
// Reply: {"epoch", stored epoch or ""} or {"stale", currentToken, "1"|"0"
// (lease held)} and nothing written, or {"ok", r1, r2, ...} with one
// "<code> <replayed> <version> <token> <ms>" per write; code is C(reated)
// U(pdated) D(eleted) P(recondition) N(ot found) or M(ismatched idempotency
// key).
//
// A WAIT counts the replicas that acknowledged the connection's last write.
// A batch of replays alone writes nothing, so its WAIT would vouch for
// whatever the connection wrote before, not for the replayed write (made
// earlier, maybe on another connection, maybe never acknowledged). When the
// caller will WAIT and the batch wrote nothing, the script therefore
// rewrites one replayed record as it is (SET KEEPTTL): a write that
// replicates after the original, so the WAIT covers the original too.
//
// Redis does not roll a script back when it fails part-way, so the script
// first decides every write (reading through a local overlay, as later
// writes of a batch see earlier ones) and only then writes. A corrupt record
// therefore fails the batch before anything is changed.
const applySrc = `#!lua
if ARGV[5] ~= '' then
  local e = redis.call('GET', KEYS[5])
  if e ~= ARGV[5] then
    return {'epoch', e or ''}
  end
end
local current = redis.call('GET', KEYS[1]) or '0'
local held = redis.call('HGET', KEYS[2], 'token') == current
if not held or ARGV[1] ~= current then
  return {'stale', current, held and '1' or '0'}
end
local token, now = ARGV[1], ARGV[2]
local rev = tonumber(redis.call('GET', KEYS[3]) or '0')
if not rev then
  return redis.error_reply('ERR cpgw: corrupt revision counter ' .. KEYS[3])
end

local versions, idem, plan, out = {}, {}, {}, {}
local replayed = nil -- KEYS index of a replayed idempotency record
for i = 0, tonumber(ARGV[4]) - 1 do
  local a = 7 + i * 10
  local op, oi, ii = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local name, ifv, ifabs, fp = ARGV[a + 4], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8]
  local res
  if ii > 0 then
    local rec = idem[ii]
    if rec == nil then
      rec = redis.call('GET', KEYS[ii])
      idem[ii] = rec
    end
    if rec then
      local code, ver, tok, ms, rfp = string.match(rec, '^(%u) (%d+) (%d+) (%-?%d+) (.*)$')
      if not code then
        return redis.error_reply('ERR cpgw: corrupt idempotency record ' .. KEYS[ii])
      end
      if rfp == fp then
        res = code .. ' 1 ' .. ver .. ' ' .. tok .. ' ' .. ms
        replayed = replayed or ii
      else
        res = 'M 0 0 0 0'
      end
    end
  end
  if not res then
    local vk = oi .. ' ' .. name
    local cur = versions[vk]
    if cur == nil then
      cur = false
      local rec = redis.call('HGET', KEYS[oi], name)
      if rec then
        cur = string.match(rec, '^(%d+) %d+ %-?%d+ .')
        if not cur then
          return redis.error_reply('ERR cpgw: corrupt object record ' .. KEYS[oi] .. ' ' .. name)
        end
      end
    end
    local code
    if ifv ~= '0' and not cur then code = 'N'
    elseif ifv ~= '0' and cur ~= ifv then code = 'P'
    elseif ifabs == '1' and cur then code = 'P'
    elseif op == 'delete' then code = cur and 'D' or 'N'
    else code = cur and 'U' or 'C' end
    local ver, tok, ms = '0', '0', '0'
    if code == 'C' or code == 'U' or code == 'D' then
      rev = rev + 1
      ver, tok, ms = string.format('%d', rev), token, now
      plan[#plan + 1] = {a, ver}
      if code == 'D' then cur = false else cur = ver end
    end
    versions[vk] = cur
    if ii > 0 then
      idem[ii] = code .. ' ' .. ver .. ' ' .. tok .. ' ' .. ms .. ' ' .. fp
      plan[#plan + 1] = {a, false, ii}
    end
    res = code .. ' 0 ' .. ver .. ' ' .. tok .. ' ' .. ms
  end
  out[#out + 1] = res
end

local changed = false
for _, p in ipairs(plan) do
  local a, ver = p[1], p[2]
  if ver then
    local h, op, ns, name = KEYS[tonumber(ARGV[a + 1])], ARGV[a], ARGV[a + 3], ARGV[a + 4]
    if op == 'delete' then
      redis.call('HDEL', h, name)
    else
      redis.call('HSET', h, name, ver .. ' ' .. token .. ' ' .. now .. ' ' .. ARGV[a + 5])
    end
    redis.call('XADD', KEYS[4], ver .. '-0', 'op', op, 'namespace', ns, 'name', name, 'token', token)
    changed = true
  else
    redis.call('SET', KEYS[p[3]], idem[p[3]], 'PX', ARGV[a + 9])
  end
end
if changed then
  redis.call('SET', KEYS[3], string.format('%d', rev))
  redis.call('XTRIM', KEYS[4], 'MAXLEN', '~', ARGV[3])
end
if #plan == 0 and replayed and ARGV[6] == '1' then
  redis.call('SET', KEYS[replayed], idem[replayed], 'KEEPTTL')
end
table.insert(out, 1, 'ok')
return out
`

// applyArgsPerWrite is the number of ARGV values applySrc reads per write.
const applyArgsPerWrite = 10

// listSrc reads a namespace and the shard revision in one atomic step.
// KEYS[1] revision, KEYS[2] object hash. Reply: {revision, {name, record, ...}}.
const listSrc = `#!lua flags=no-writes
return {redis.call('GET', KEYS[1]) or '0', redis.call('HGETALL', KEYS[2])}
`

// acquireSrc grants a lease if none is live.
// KEYS[1] fencing counter, KEYS[2] lease, KEYS[3] the shard's epoch copy.
// ARGV owner, region, address, TTL ms, token floor (LeaseRequest.After),
// bound epoch ("" = do not check).
// Reply: {"epoch", stored epoch or ""} and nothing written, {"ok", token,
// "1"|"0" (regressed)} or {"held", owner, region, address, token, ttl ms,
// remaining ms, current token}.
//
// The counter is compared with the floor as decimal strings (length first)
// and moved to it with SET before the INCR, and the new token is read back
// with GET rather than taken from INCR's reply: Lua numbers are doubles, exact
// only up to 2^53, and tokens are 63-bit.
const acquireSrc = `#!lua
if ARGV[6] ~= '' then
  local e = redis.call('GET', KEYS[3])
  if e ~= ARGV[6] then
    return {'epoch', e or ''}
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local h = redis.call('HMGET', KEYS[2], 'owner', 'region', 'addr', 'token', 'ttl')
  return {'held', h[1] or '', h[2] or '', h[3] or '', h[4] or '0', h[5] or '0',
    redis.call('PTTL', KEYS[2]), redis.call('GET', KEYS[1]) or '0'}
end
local cur, after = redis.call('GET', KEYS[1]) or '0', ARGV[5]
if not string.match(cur, '^%d+$') then
  return redis.error_reply('ERR cpgw: corrupt fencing counter ' .. KEYS[1])
end
local regressed = '0'
if #cur < #after or (#cur == #after and cur < after) then
  redis.call('SET', KEYS[1], after)
  regressed = '1'
end
redis.call('INCR', KEYS[1])
local t = redis.call('GET', KEYS[1])
redis.call('HSET', KEYS[2], 'owner', ARGV[1], 'region', ARGV[2], 'addr', ARGV[3], 'token', t, 'ttl', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {'ok', t, regressed}
`

// renewSrc extends a lease that owner and token still hold.
// KEYS[1] lease, KEYS[2] the shard's epoch copy. ARGV owner, token, TTL ms,
// bound epoch ("" = do not check). Reply: 1 renewed, 0 lost, or {"epoch",
// stored epoch or ""} and nothing written.
const renewSrc = `#!lua
if ARGV[4] ~= '' then
  local e = redis.call('GET', KEYS[2])
  if e ~= ARGV[4] then
    return {'epoch', e or ''}
  end
end
local h = redis.call('HMGET', KEYS[1], 'owner', 'token')
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'ttl', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`

// releaseSrc deletes a lease that owner and token still hold.
// KEYS[1] lease, KEYS[2] the shard's epoch copy. ARGV owner, token, bound
// epoch ("" = do not check). Reply: 1 released, 0 lost, or {"epoch", stored
// epoch or ""} and nothing written.
const releaseSrc = `#!lua
if ARGV[3] ~= '' then
  local e = redis.call('GET', KEYS[2])
  if e ~= ARGV[3] then
    return {'epoch', e or ''}
  end
end
local h = redis.call('HMGET', KEYS[1], 'owner', 'token')
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
`

// leaseStateSrc reads a shard's lease and fencing counter atomically.
// KEYS[1] fencing counter, KEYS[2] lease. Reply: {current token, owner,
// region, address, lease token, ttl ms, remaining ms}; owner is "" when the
// lease is not held.
const leaseStateSrc = `#!lua flags=no-writes
local h = redis.call('HMGET', KEYS[2], 'owner', 'region', 'addr', 'token', 'ttl')
return {redis.call('GET', KEYS[1]) or '0', h[1] or '', h[2] or '', h[3] or '',
  h[4] or '0', h[5] or '0', redis.call('PTTL', KEYS[2])}
`

// heartbeatSrc records a member alive until the server's now + TTL, records
// its region for good, and prunes members that expired.
// KEYS[1] members (zset id → expiry ms), KEYS[2] member records (hash),
// KEYS[3] regions (set). ARGV id, record, region, TTL ms.
const heartbeatSrc = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[4])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
for _, id in ipairs(dead) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return 1
`

// membersSrc lists the members whose expiry is after the server's now.
// KEYS[1] members, KEYS[2] member records. Reply: {id, record, ...}.
const membersSrc = `#!lua flags=no-writes
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', now), '+inf')
local out = {}
for _, id in ipairs(ids) do
  local rec = redis.call('HGET', KEYS[2], id)
  if rec then
    out[#out + 1] = id
    out[#out + 1] = rec
  end
end
return out
`

// putNamespaceSrc stores namespace settings with a compare-and-set on their
// version. KEYS[1] namespaces (hash). ARGV name, expected version ("0" =
// none stored), new version, settings JSON. Reply: {"ok"} or {"P", current
// version}.
const putNamespaceSrc = `#!lua
local cur = '0'
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec then
  cur = string.match(rec, '^(%d+) ')
  if not cur then
    return redis.error_reply('ERR cpgw: corrupt namespace record ' .. ARGV[1])
  end
end
if cur ~= ARGV[2] then
  return {'P', cur}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. ' ' .. ARGV[4])
return {'ok'}
`

// initClusterSrc reads, and when asked creates, the cluster's shard count
// and epoch in one atomic step. KEYS[1] shard count, KEYS[2] cluster epoch.
// ARGV[1] shard count, ARGV[2] a fresh epoch, ARGV[3] "1" to create what is
// missing (an unbound Store) or "0" to only read (a bound Store must not
// create a cluster in place of the one it lost). Reply: {count or "", epoch
// or ""}.
//
// A count without an epoch is a cluster from before epochs existed; it gets
// one and keeps its count.
const initClusterSrc = `#!lua
local n, e = redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])
if ARGV[3] == '1' then
  if not n then
    n = ARGV[1]
    redis.call('SET', KEYS[1], n)
  end
  if not e then
    e = ARGV[2]
    redis.call('SET', KEYS[2], e)
  end
end
return {n or '', e or ''}
`

// scripts holds the store's scripts. They live in the Store rather than in
// package variables because redis.Script caches its digest.
type scripts struct {
	apply, list, acquire, renew, release, leaseState, heartbeat, members, putNamespace, initCluster *redis.Script
}

func newScripts() scripts {
	return scripts{
		apply:      redis.NewScript(applySrc),
		list:       redis.NewScript(listSrc),
		acquire:    redis.NewScript(acquireSrc),
		renew:      redis.NewScript(renewSrc),
		release:    redis.NewScript(releaseSrc),
		leaseState: redis.NewScript(leaseStateSrc),
		heartbeat:  redis.NewScript(heartbeatSrc),
		members:    redis.NewScript(membersSrc),

		putNamespace: redis.NewScript(putNamespaceSrc),
		initCluster:  redis.NewScript(initClusterSrc),
	}
}

// scriptCall is one invocation of a script in a pipeline.
type scriptCall struct {
	keys []string
	args []any
}

// runPipelined runs sc once per call, all in one pipeline (one round trip per
// node), and returns the replies in order. Calls refused with NOSCRIPT (the
// script cache was flushed, or a failover promoted a server that never saw the
// script) are re-run once after loading the script. readOnly selects
// EVALSHA_RO so the calls may be served by a replica.
//
// With a non-zero w the pipeline ends with WAIT (see durability.go), and the
// re-run of refused calls ends with one too, since it may run on another
// connection and WAIT only covers the writes of its own. acked is then the
// smaller of the answers: a replica counts only if it had both runs' writes.
// Without w, acked is 0.
//
// Any other failure of any call fails the whole run: the callers' contracts
// have no per-entry transport errors, and treating a partly acknowledged
// renewal as failed is the safe direction.
func runPipelined(ctx context.Context, c redis.UniversalClient, sc *redis.Script, readOnly bool, calls []scriptCall, w wait) (cmds []*redis.Cmd, acked int, err error) {
	cmds = make([]*redis.Cmd, len(calls))
	acked = -1
	run := func(idx []int) error {
		var waitCmd *redis.IntCmd
		// Per-command errors are inspected below; Exec's error is the first of them.
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range idx {
				if readOnly {
					cmds[i] = sc.EvalShaRO(ctx, p, calls[i].keys, calls[i].args...)
				} else {
					cmds[i] = sc.EvalSha(ctx, p, calls[i].keys, calls[i].args...)
				}
			}
			if w.replicas > 0 {
				// Pipeliner has no typed Wait; the reply is an integer.
				waitCmd = redis.NewIntCmd(ctx, "wait", w.replicas, w.timeout.Milliseconds())
				_ = p.Process(ctx, waitCmd)
			}
			return nil
		})
		if waitCmd == nil {
			return nil
		}
		n, err := waitCmd.Result()
		if err != nil {
			return fmt.Errorf("WAIT: %w", err)
		}
		if acked < 0 || int(n) < acked {
			acked = int(n)
		}
		return nil
	}
	all := make([]int, len(calls))
	for i := range all {
		all[i] = i
	}
	waitErr := run(all)

	var missing []int
	for i, cmd := range cmds {
		switch err := cmd.Err(); {
		case err == nil:
		case isNoScript(err):
			missing = append(missing, i)
		default:
			return nil, 0, err
		}
	}
	if waitErr != nil {
		return nil, 0, waitErr
	}
	if len(missing) > 0 {
		if err := sc.Load(ctx, c).Err(); err != nil {
			return nil, 0, err
		}
		if err := run(missing); err != nil {
			return nil, 0, err
		}
		for _, i := range missing {
			if err := cmds[i].Err(); err != nil {
				return nil, 0, err
			}
		}
	}
	return cmds, max(acked, 0), nil
}

// isNoScript matches NOSCRIPT both as go-redis normalises it for single calls
// and as the raw server error a pipelined call carries.
func isNoScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}
