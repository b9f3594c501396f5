import type { Redis } from "ioredis";
import type { BillableEvent, Destination, UsageTotal } from "../model/index.js";
import { isCluster } from "../runtime/redis-client.js";
import { fingerprint } from "./fingerprint.js";
import {
  dayOf,
  type DeadLetter,
  type DeadLetterAdmin,
  type DeadLetterListing,
  type DeadLetterSelection,
  type Ledger,
  type StoredDeadLetter,
} from "./ledger.js";

const SEP = "\u001f"; // unit separator: cannot appear in customer ids or metric codes we emit

/*
 * Layout (all keys of one destination share the hash tag {destination}: one cluster slot, so
 * every Lua call below touches one slot):
 *
 *   <base>             = <prefix>:ledger:{<destination>}
 *   <base>:f:<e>:<b>   SET (intset) of 64-bit fingerprints: epoch e, bucket b = top d bits of the
 *                      key's 32 routing bits. EXPIRE = horizon, renewed by every write into it.
 *   <base>:f:epochs    ZSET "<e>:<d>" → unix second after which nothing of epoch e can remain.
 *   <base>:f:cur       HASH the epoch being written {id, d, n (members), t0 (window start), w (window members)}.
 *   <base>:f:seq       STRING epoch counter.
 *   <base>:f:nolegacy  STRING set once no per-event keys of the old layout (<base>:k:<key>) remain.
 *   <base>:agg:<day>   HASH per usage day: v<customer␟metric␟model> = value, n<…> = events.
 *   <base>:claim:<key> STRING send lease (owner), PX lease.
 *   <base>:dlq         HASH event id → StoredDeadLetter JSON.
 *   <base>:dlq:retried HASH event id → times handed back by `dlq retry` (EXPIRE = horizon).
 *
 * An epoch has a fixed depth d (2^d buckets) and is never rehashed (the routing bits are not
 * stored, so members could not be re-routed — which is what makes them free): it takes members
 * until it holds fill·2^d (then an epoch of depth d+2 follows) or until its time window ends
 * (default horizon/4; the next epoch is then sized for what the last window received). Buckets
 * thus stay below set-max-intset-entries and keep the intset encoding: 8 bytes per event plus
 * the bucket key's overhead shared by a few hundred events (measured: ~10.6 B/event by MEMORY
 * USAGE, ~12 B/event used_memory delta, over 200k events; the old layout took ~181 B/event).
 * A member is kept at least the horizon after it was recorded and at most horizon + window.
 * A lookup probes one bucket in each live epoch (typically 5–10: horizon/window + 1, plus the
 * growth steps of a window whose volume jumped).
 *
 * False positives (an undelivered event taken for delivered = revenue lost): a lookup compares
 * the key's 64-bit fingerprint with the members of the probed buckets only, so
 *   P(false positive per event) ≤ Σ members of probed buckets / 2^64 ≤ E · 512 / 2^64 = E · 2.8e-17
 * for E live epochs — independent of how many events the ledger holds (the unstored routing
 * bits grow with the volume: at 1e9 events ~21 of them, i.e. ~85 effective bits). With E = 10:
 * ≤ 2.8e-16 per event, ≤ 2.8e-7 expected lost events over 1e9 (a flat 10-byte set holding 1e9
 * keys: 8.3e-16 per event).
 * False negatives: none within the horizon (members are never moved or removed early).
 */

const LUA_COMMON = `
local function live_epochs(idx, now)
  local out = {}
  local ms = redis.call('ZRANGEBYSCORE', idx, now, '+inf')
  for i = #ms, 1, -1 do
    local id, d = string.match(ms[i], '^(%d+):(%d+)$')
    if id then out[#out + 1] = { id, tonumber(d) } end
  end
  return out
end
local function bucket(fbase, id, d, route)
  return fbase .. id .. ':' .. tostring(math.floor(route / 2 ^ (32 - d)))
end
local function seen(fbase, epochs, fp, route, legacy, lkey)
  for _, e in ipairs(epochs) do
    if redis.call('SISMEMBER', bucket(fbase, e[1], e[2], route), fp) == 1 then return true end
  end
  return legacy and redis.call('EXISTS', lkey) == 1
end
`;

/**
 * Indexes (1-based) of the keys not recorded. Read-only.
 * KEYS: [epochs, nolegacy]; ARGV: [fbase, lbase, (fp, route, key)...]
 */
const FILTER_LUA = `${LUA_COMMON}
local now = tonumber(redis.call('TIME')[1])
local epochs = live_epochs(KEYS[1], now)
local legacy = redis.call('EXISTS', KEYS[2]) == 0
local out = {}
local n = (#ARGV - 2) / 3
for i = 0, n - 1 do
  local o = 2 + 3 * i
  if not seen(ARGV[1], epochs, ARGV[o + 1], tonumber(ARGV[o + 2]), legacy, ARGV[2] .. ARGV[o + 3]) then
    out[#out + 1] = i + 1
  end
end
return out
`;

/** Event keys per Lua call: bounds how long one call holds Redis. */
const CHUNK = 1000;

/** How far back `recentTotals` can look: per-minute aggregates are kept this long. */
export const RECENT_MINUTES = 120;

/**
 * Records each key unless any live epoch (or a legacy key) holds it and, only when it is new,
 * adds its value to its usage day's aggregate and to the minute's recent totals — atomically,
 * so racing workers count it once.
 * KEYS: [epochs, cur, seq, nolegacy, recent prefix]
 * ARGV: [ttl, window, fill, fbase, lbase, n, (fp, route, key, aggKey, field, value)...]
 */
const RECORD_LUA = `${LUA_COMMON}
local RECENT_TTL = ${RECENT_MINUTES * 60 + 60}
local now = tonumber(redis.call('TIME')[1])
local ttl, win, fill = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local fbase, lbase, n = ARGV[4], ARGV[5], tonumber(ARGV[6])
local legacy = redis.call('EXISTS', KEYS[4]) == 0
local deadline = now + ttl + 1
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local epochs = live_epochs(KEYS[1], now)
local c = redis.call('HMGET', KEYS[2], 'id', 'd', 'n', 't0', 'w')
local cid, cd, cn, ct0, cw = c[1], tonumber(c[2]), tonumber(c[3]), tonumber(c[4]), tonumber(c[5])
local live = false
if cid then
  for _, e in ipairs(epochs) do if e[1] == cid then live = true break end end
end
local changed = false
local function open(d, newWindow)
  cid = tostring(redis.call('INCR', KEYS[3]))
  cd = math.min(d, 32)
  cn = 0
  if newWindow then ct0 = now; cw = 0 end
  table.insert(epochs, 1, { cid, cd })
  redis.call('ZADD', KEYS[1], deadline, cid .. ':' .. cd)
  changed = true
end
if not live then
  open(0, true)
elseif now - ct0 >= win then
  -- a new window: sized for what the last one received, so it usually needs one epoch
  local d = 0
  while d < 32 and 2 ^ d * fill < cw do d = d + 1 end
  open(d, true)
end
local written, buckets, aggs = {}, {}, {}
-- Per hash and field, the batch's events are counted once and their whole values summed once
-- (exact: below 1e12 each, at most ${CHUNK} of them, far under 2^53); any other value is added as it comes.
local tallies, tallyOf = {}, {}
local function tally(key, field, value)
  local id = key .. '\0' .. field
  local t = tallyOf[id]
  if not t then t = { key, field, 0, 0, false }; tallyOf[id] = t; tallies[#tallies + 1] = t end
  t[4] = t[4] + 1
  if #value <= 12 and string.match(value, '^%-?%d+$') then
    t[3] = t[3] + tonumber(value)
    t[5] = true
  else
    redis.call('HINCRBYFLOAT', key, 'v' .. field, value)
  end
end
local added = 0
local recent = KEYS[5] .. math.floor(now / 60)
for i = 0, n - 1 do
  local o = 6 + 6 * i
  local fp, route = ARGV[o + 1], tonumber(ARGV[o + 2])
  if not seen(fbase, epochs, fp, route, legacy, lbase .. ARGV[o + 3]) then
    if cn >= 2 ^ cd * fill then open(cd + 2, false) end
    local b = bucket(fbase, cid, cd, route)
    redis.call('SADD', b, fp)
    buckets[b] = true
    written[cid .. ':' .. cd] = true
    cn = cn + 1
    cw = cw + 1
    local agg, field, value = ARGV[o + 4], ARGV[o + 5], ARGV[o + 6]
    aggs[agg] = true
    tally(agg, field, value)
    -- the same per row per minute of recording: what is still within a destination's ingestion lag
    tally(recent, field, value)
    added = added + 1
  end
end
for _, t in ipairs(tallies) do
  if t[5] then redis.call('HINCRBYFLOAT', t[1], 'v' .. t[2], string.format('%d', t[3])) end
  redis.call('HINCRBY', t[1], 'n' .. t[2], t[4])
end
for b in pairs(buckets) do redis.call('EXPIRE', b, ttl) end
for a in pairs(aggs) do redis.call('EXPIRE', a, ttl) end
if added > 0 then redis.call('EXPIRE', recent, RECENT_TTL) end
for m in pairs(written) do redis.call('ZADD', KEYS[1], deadline, m) end
if changed or added > 0 then
  redis.call('HSET', KEYS[2], 'id', cid, 'd', cd, 'n', cn, 't0', ct0, 'w', cw)
  redis.call('EXPIRE', KEYS[2], ttl + 1)
  redis.call('EXPIRE', KEYS[1], ttl + 1)
end
return added
`;

/** Claims each key for `owner` unless another owner holds it; re-claiming your own renews it. */
const CLAIM_LUA = `
local out = {}
local lease = tonumber(ARGV[2])
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', lease) then
    out[#out + 1] = i
  elseif redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', lease)
    out[#out + 1] = i
  end
end
return out
`;

const RELEASE_LUA = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
`;

/**
 * Writes dead letters, keeping firstAt / times of a letter it overwrites and the retry count.
 * The JSON is built by the caller without its closing brace, so the event is never re-encoded
 * by Lua (cjson would round numbers).
 * KEYS: [dlq, retried]; ARGV: [(id, at, head)...]
 */
const DEAD_LETTER_LUA = `
for i = 1, #ARGV, 3 do
  local id, at, head = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local firstAt, times = at, 0
  local old = redis.call('HGET', KEYS[1], id)
  if old then
    local ok, o = pcall(cjson.decode, old)
    if ok and type(o) == 'table' then
      if type(o.firstAt) == 'string' then firstAt = o.firstAt elseif type(o.at) == 'string' then firstAt = o.at end
      times = tonumber(o.times) or 1
    end
  end
  local retries = tonumber(redis.call('HGET', KEYS[2], id)) or 0
  redis.call('HSET', KEYS[1], id, head .. ',"firstAt":' .. cjson.encode(firstAt) .. ',"times":' .. (times + 1) .. ',"retries":' .. retries .. '}')
end
return 1
`;

/**
 * Takes (returns and deletes) or purges (deletes) the given letters that still match the
 * filter, at most max of them. Each letter goes to exactly one caller.
 * KEYS: [dlq, retried]; ARGV: [mode, ttl, reasonLower, customer, max, ids...]
 */
const TAKE_LUA = `
local take = ARGV[1] == 'take'
local ttl, reason, customer, max = tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local out, n = {}, 0
for i = 6, #ARGV do
  if n >= max then break end
  local id = ARGV[i]
  local v = redis.call('HGET', KEYS[1], id)
  if v then
    local ok = true
    if reason ~= '' or customer ~= '' then
      local good, o = pcall(cjson.decode, v)
      ok = good and type(o) == 'table'
      if ok and reason ~= '' then ok = type(o.reason) == 'string' and string.find(string.lower(o.reason), reason, 1, true) ~= nil end
      if ok and customer ~= '' then ok = type(o.event) == 'table' and o.event.customer == customer end
    end
    if ok then
      redis.call('HDEL', KEYS[1], id)
      n = n + 1
      if take then
        redis.call('HINCRBY', KEYS[2], id, 1)
        out[#out + 1] = v
      else
        redis.call('HDEL', KEYS[2], id)
      end
    end
  end
end
if take then
  if n > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
  return out
end
return n
`;

/** KEYS: [dlq, retried]; ARGV: [(id, json)...] */
const RESTORE_LUA = `
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    if redis.call('HINCRBY', KEYS[2], ARGV[i], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[i]) end
  end
end
return 1
`;

const PURGE_ALL_LUA = `
local n = redis.call('HLEN', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
return n
`;

type Cmd<R> = (...args: (string | number)[]) => Promise<R>;

export interface RedisLedgerOptions {
  /** Key prefix; the destination is a hash tag so one destination's keys share a cluster slot. */
  prefix: string;
  /** How long a delivered key is remembered at least (the replay horizon). */
  ttlSeconds: number;
  /**
   * How long one epoch takes new members (default ttlSeconds / 4). Shorter windows hold memory
   * closer to the horizon (a member stays up to horizon + window) but add an epoch per lookup.
   */
  windowSeconds?: number;
  /**
   * Members per bucket at which an epoch is full (default 70% of the server's
   * set-max-intset-entries, at most 512 → 358; so the fullest bucket stays an intset).
   */
  bucketFill?: number;
}

/** Letters per DLQ Lua call. */
const DLQ_CHUNK = 500;

export interface EpochInfo {
  id: string;
  depth: number;
  /** Unix seconds after which nothing of the epoch remains. */
  until: number;
}

export class RedisLedger implements Ledger, DeadLetterAdmin {
  private fill?: Promise<number>;

  constructor(private readonly redis: Redis, private readonly opts: RedisLedgerOptions) {
    redis.defineCommand("tbLedgerFilter", { numberOfKeys: 2, lua: FILTER_LUA });
    redis.defineCommand("tbLedgerRecord", { numberOfKeys: 5, lua: RECORD_LUA });
    redis.defineCommand("tbClaim", { lua: CLAIM_LUA });
    redis.defineCommand("tbRelease", { lua: RELEASE_LUA });
    redis.defineCommand("tbDeadLetter", { numberOfKeys: 2, lua: DEAD_LETTER_LUA });
    redis.defineCommand("tbTakeDeadLetters", { numberOfKeys: 2, lua: TAKE_LUA });
    redis.defineCommand("tbRestoreDeadLetters", { numberOfKeys: 2, lua: RESTORE_LUA });
    redis.defineCommand("tbPurgeDeadLetters", { numberOfKeys: 2, lua: PURGE_ALL_LUA });
  }

  private cmd<R>(name: string): Cmd<R> {
    const fn = (this.redis as unknown as Record<string, Cmd<R>>)[name]!;
    return (...args) => fn.call(this.redis, ...args);
  }

  private base(d: Destination): string {
    return `${this.opts.prefix}:ledger:{${d}}`;
  }
  private aggOf(d: Destination, day: string): string {
    return `${this.base(d)}:agg:${day}`;
  }
  private claimOf(d: Destination, eventKey: string): string {
    return `${this.base(d)}:claim:${eventKey}`;
  }
  private dlqOf(d: Destination): [string, string] {
    return [`${this.base(d)}:dlq`, `${this.base(d)}:dlq:retried`];
  }
  /** Key of one bucket (for tests and the memory bench). */
  bucketKey(d: Destination, epoch: string, bucket: number): string {
    return `${this.base(d)}:f:${epoch}:${bucket}`;
  }

  private get window(): number {
    return Math.max(0, Math.floor(this.opts.windowSeconds ?? this.opts.ttlSeconds / 4));
  }

  /** Members per bucket that close an epoch: below the server's intset limit with Poisson headroom. */
  private bucketFill(): Promise<number> {
    this.fill ??= (async () => {
      if (this.opts.bucketFill) return Math.max(1, Math.floor(this.opts.bucketFill));
      let limit = 512;
      try {
        const r = (await this.redis.config("GET", "set-max-intset-entries")) as unknown as string[];
        const v = Number(r?.[1]);
        if (Number.isFinite(v) && v > 0) limit = Math.min(v, 512);
      } catch {
        // CONFIG is disabled on some managed Redis: assume the default (512).
      }
      return Math.max(1, Math.floor(limit * 0.7));
    })();
    return this.fill;
  }

  async filterUndelivered(d: Destination, keys: string[]): Promise<string[]> {
    const out: string[] = [];
    const base = this.base(d);
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      const args: (string | number)[] = [`${base}:f:epochs`, `${base}:f:nolegacy`, `${base}:f:`, `${base}:k:`];
      for (const k of chunk) {
        const f = fingerprint(k);
        args.push(f.fp, f.route, k);
      }
      const idx = await this.cmd<number[]>("tbLedgerFilter")(...args);
      for (const j of idx) out.push(chunk[j - 1]!);
    }
    return out;
  }

  async recordDelivered(d: Destination, events: BillableEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const fill = await this.bucketFill();
    const base = this.base(d);
    let added = 0;
    for (let i = 0; i < events.length; i += CHUNK) {
      const chunk = events.slice(i, i + CHUNK);
      const args: (string | number)[] = [
        `${base}:f:epochs`, `${base}:f:cur`, `${base}:f:seq`, `${base}:f:nolegacy`, `${base}:r:`,
        this.opts.ttlSeconds, this.window, fill, `${base}:f:`, `${base}:k:`, chunk.length,
      ];
      for (const e of chunk) {
        const f = fingerprint(e.id);
        const model = typeof e.properties.model === "string" ? e.properties.model : "";
        args.push(f.fp, f.route, e.id, this.aggOf(d, dayOf(e.timestamp)), [e.customer, e.metric, model].join(SEP), String(e.value));
      }
      added += await this.cmd<number>("tbLedgerRecord")(...args);
    }
    return added;
  }

  /**
   * Once no per-event key of the previous layout (<base>:k:<key>, one string per event) is
   * left, marks the destination so lookups stop checking for them. Until then lookups and
   * recordings honour those keys, so an upgrade never forgets what was delivered. Call at
   * worker start (cheap once marked); returns true when the marker is set.
   */
  async retireLegacyKeys(d: Destination): Promise<boolean> {
    const marker = `${this.base(d)}:f:nolegacy`;
    if (await this.redis.exists(marker)) return true;
    const pattern = `${this.base(d).replace(/[*?[\]\\]/g, "\\$&")}:k:*`;
    // SCAN walks one server: on a Redis Cluster, walk every master.
    const servers = isCluster(this.redis) ? (this.redis as unknown as { nodes(role: "master"): Redis[] }).nodes("master") : [this.redis];
    for (const server of servers) {
      let cursor = "0";
      do {
        const [next, found] = await server.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        if (found.length) return false;
        cursor = next;
      } while (cursor !== "0");
    }
    await this.redis.set(marker, "1");
    return true;
  }

  /** Live epochs, newest first (for tests and the memory bench). */
  async epochs(d: Destination): Promise<EpochInfo[]> {
    const raw = await this.redis.zrange(`${this.base(d)}:f:epochs`, 0, -1, "WITHSCORES");
    const out: EpochInfo[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const [id = "", depth = "0"] = raw[i]!.split(":");
      out.push({ id, depth: Number(depth), until: Number(raw[i + 1]) });
    }
    return out.reverse();
  }

  async claim(d: Destination, keys: string[], owner: string, leaseMs: number): Promise<string[]> {
    if (keys.length === 0) return [];
    const got = await this.cmd<number[]>("tbClaim")(keys.length, ...keys.map((k) => this.claimOf(d, k)), owner, leaseMs);
    return got.map((i) => keys[i - 1]!);
  }

  async release(d: Destination, keys: string[], owner: string): Promise<void> {
    if (keys.length === 0) return;
    await this.cmd<number>("tbRelease")(keys.length, ...keys.map((k) => this.claimOf(d, k)), owner);
  }

  // ── dead letters ───────────────────────────────────────────────────────────────────────────

  async deadLetter(d: Destination, letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const flat: string[] = [];
    for (const l of letters) {
      const head: DeadLetter = { event: l.event, reason: l.reason, at: l.at, ...(l.attempts !== undefined ? { attempts: l.attempts } : {}) };
      flat.push(l.event.id, l.at, JSON.stringify(head).slice(0, -1));
    }
    // A hash keyed by event id: a replayed rejection overwrites (and counts) instead of piling up.
    for (let i = 0; i < flat.length; i += DLQ_CHUNK * 3) await this.cmd<number>("tbDeadLetter")(...this.dlqOf(d), ...flat.slice(i, i + DLQ_CHUNK * 3));
  }

  async deadLetters(d: Destination, limit = 1000): Promise<StoredDeadLetter[]> {
    const out: StoredDeadLetter[] = [];
    await this.scanDeadLetters(d, (l) => {
      out.push(l);
      return out.length < limit;
    });
    return out;
  }

  /** Calls `each` for every letter (in hash order) until it returns false. */
  private async scanDeadLetters(d: Destination, each: (l: StoredDeadLetter) => boolean): Promise<void> {
    const [key] = this.dlqOf(d);
    let cursor = "0";
    do {
      const [next, items] = await this.redis.hscan(key, cursor, "COUNT", 500);
      cursor = next;
      for (let i = 1; i < items.length; i += 2) {
        const l = parseLetter(items[i]!);
        if (l && !each(l)) return;
      }
    } while (cursor !== "0");
  }

  async listDeadLetters(d: Destination, filter: Omit<DeadLetterSelection, "all"> = {}): Promise<DeadLetterListing> {
    const match = matcher(filter);
    const all: StoredDeadLetter[] = [];
    const byReason: Record<string, number> = {};
    await this.scanDeadLetters(d, (l) => {
      if (match(l)) {
        all.push(l);
        byReason[l.reason] = (byReason[l.reason] ?? 0) + 1;
      }
      return true;
    });
    all.sort(oldestFirst);
    return { total: all.length, byReason, letters: all.slice(0, filter.limit ?? all.length) };
  }

  /** How many letters the destination's dead-letter queue holds (one HLEN). */
  async deadLetterCount(d: Destination): Promise<number> {
    return this.redis.hlen(this.dlqOf(d)[0]);
  }

  async deadLetterOf(d: Destination, id: string): Promise<StoredDeadLetter | null> {
    const raw = await this.redis.hget(this.dlqOf(d)[0], id);
    return raw === null ? null : parseLetter(raw);
  }

  async takeDeadLetters(d: Destination, selection: DeadLetterSelection): Promise<StoredDeadLetter[]> {
    const raw = await this.takeOrPurge<string[]>(d, "take", selection);
    return raw.flat().map(parseLetter).filter((l): l is StoredDeadLetter => l !== null);
  }

  async restoreDeadLetters(d: Destination, letters: StoredDeadLetter[]): Promise<void> {
    const flat = letters.flatMap((l) => [l.event.id, JSON.stringify(l)]);
    for (let i = 0; i < flat.length; i += DLQ_CHUNK * 2) await this.cmd<number>("tbRestoreDeadLetters")(...this.dlqOf(d), ...flat.slice(i, i + DLQ_CHUNK * 2));
  }

  async purgeDeadLetters(d: Destination, selection: DeadLetterSelection): Promise<number> {
    if (selection.all && !selection.ids && !selection.reason && !selection.customer && selection.limit === undefined) {
      return this.cmd<number>("tbPurgeDeadLetters")(...this.dlqOf(d));
    }
    const counts = await this.takeOrPurge<number>(d, "purge", selection);
    return counts.reduce((a, b) => a + b, 0);
  }

  private async takeOrPurge<R>(d: Destination, mode: "take" | "purge", s: DeadLetterSelection): Promise<R[]> {
    if (!s.all && !s.ids && !s.reason && !s.customer) throw new Error("refusing an empty dead-letter selection: give ids, a filter or all");
    // Candidates oldest first; the Lua call re-checks the filter on what it finds, per letter.
    const ids = s.ids ?? (await this.listDeadLetters(d, { reason: s.reason, customer: s.customer })).letters.map((l) => l.event.id);
    let left = s.limit ?? Infinity;
    const out: R[] = [];
    for (let i = 0; i < ids.length && left > 0; i += DLQ_CHUNK) {
      const chunk = ids.slice(i, i + DLQ_CHUNK);
      const r = await this.cmd<R>("tbTakeDeadLetters")(
        ...this.dlqOf(d), mode, this.opts.ttlSeconds, asciiLower(s.reason ?? ""), s.customer ?? "", Math.min(left, chunk.length), ...chunk,
      );
      out.push(r);
      left -= Array.isArray(r) ? r.length : Number(r);
    }
    return out;
  }

  async totals(d: Destination, from: Date, to: Date): Promise<UsageTotal[]> {
    return this.sumHashes(daysBetween(from, to).map((day) => this.aggOf(d, day)));
  }

  /**
   * Recorded in the last `minutes` (at most RECENT_MINUTES), by Redis's clock, per customer ×
   * metric × model: what a destination with ingestion lag may not show yet.
   */
  async recentTotals(d: Destination, minutes: number): Promise<UsageTotal[]> {
    const [sec] = await this.redis.time();
    const nowMin = Math.floor(Number(sec) / 60);
    const span = Math.min(Math.ceil(minutes), RECENT_MINUTES);
    const keys: string[] = [];
    for (let m = nowMin - span; m <= nowMin; m++) keys.push(`${this.base(d)}:r:${m}`);
    return this.sumHashes(keys);
  }

  private async sumHashes(keys: Iterable<string>): Promise<UsageTotal[]> {
    const rows = new Map<string, UsageTotal>();
    for (const key of keys) {
      const h = await this.redis.hgetall(key);
      for (const [field, raw] of Object.entries(h)) {
        const id = field.slice(1);
        const [customer = "", metric = "", model = ""] = id.split(SEP);
        const row = rows.get(id) ?? { customer, metric, model, value: 0, events: 0 };
        if (field.startsWith("v")) row.value += Number(raw);
        else row.events += Number(raw);
        rows.set(id, row);
      }
    }
    return [...rows.values()];
  }
}

/** Lua's string.lower is ASCII-only; filter the same way on both sides. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function matcher(f: Omit<DeadLetterSelection, "all">): (l: StoredDeadLetter) => boolean {
  const ids = f.ids ? new Set(f.ids) : undefined;
  const reason = f.reason ? asciiLower(f.reason) : "";
  return (l) =>
    (!ids || ids.has(l.event.id)) &&
    (!reason || asciiLower(l.reason).includes(reason)) &&
    (!f.customer || l.event.customer === f.customer);
}

function oldestFirst(a: StoredDeadLetter, b: StoredDeadLetter): number {
  return a.at < b.at ? -1 : a.at > b.at ? 1 : a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0;
}

/** A stored letter, including ones written before firstAt/times/retries existed. */
function parseLetter(raw: string): StoredDeadLetter | null {
  try {
    const o = JSON.parse(raw) as Partial<StoredDeadLetter>;
    if (!o || typeof o !== "object" || !o.event || typeof o.event.id !== "string") return null;
    const at = typeof o.at === "string" ? o.at : "";
    return { ...(o as StoredDeadLetter), reason: String(o.reason ?? ""), at, firstAt: o.firstAt ?? at, times: o.times ?? 1, retries: o.retries ?? 0 };
  } catch {
    return null;
  }
}

/** UTC days d with from ≤ d < to (both truncated to the day; `to` rounded up). */
export function daysBetween(from: Date, to: Date): string[] {
  const days: string[] = [];
  const start = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  for (let t = start; t < to.getTime(); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}
