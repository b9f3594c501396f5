import type { Redis } from "ioredis";
import type { Platform, TraceRecord } from "../model/index.js";
import { isCluster, slotSafePipeline } from "../runtime/redis-client.js";
import { FALLBACK_CHAIN_NAMES, attemptOf, join, type Attempt, type ContextStore, type Joined } from "./context.js";
import type { ContextFacts, TraceContext } from "./source.js";

/*
 * The join's two write rules, shared by the per-key scripts (a cluster: every key its own slot)
 * and the per-page script (a single server: one call for a page of facts).
 * merge: a trace context into what is stored (newer values win, attributes and tags are a
 * union); a trace seen for the first time is stored as sent (SET NX), without decoding it.
 * first_attempt: keeps the earliest attempt under a parent ('' = no order, sorts last).
 */
const LUA_RULES = `
local function merge(key, json, ttl)
  if redis.call('SET', key, json, 'NX', 'EX', ttl) then return end
  local new = cjson.decode(json)
  local o = cjson.decode(redis.call('GET', key))
  if type(o.attributes) == 'table' then
    for k, v in pairs(o.attributes) do if new.attributes[k] == nil then new.attributes[k] = v end end
  end
  local seen, tags = {}, {}
  for _, list in ipairs({new.tags, o.tags}) do
    if type(list) == 'table' then
      for _, t in ipairs(list) do if not seen[t] then seen[t] = true; table.insert(tags, t) end end
    end
  end
  new.tags = tags
  for _, f in ipairs({'userId', 'sessionId', 'name'}) do
    if new[f] == cjson.null or new[f] == nil then new[f] = o[f] end
  end
  redis.call('SET', key, cjson.encode(new), 'EX', ttl)
end
local function first_attempt(key, order, model, ttl)
  local cur = redis.call('HGET', key, 'order')
  if (not cur) or (order ~= '' and (cur == '' or order < cur)) then
    redis.call('HSET', key, 'order', order, 'model', model)
  end
  redis.call('EXPIRE', key, ttl)
end
`;

/** Merges one trace context; 1 when records are parked waiting for it. KEYS: [ctx, park] ARGV: [json, ttl] */
const MERGE_CONTEXT_LUA = `${LUA_RULES}
merge(KEYS[1], ARGV[1], tonumber(ARGV[2]))
return redis.call('EXISTS', KEYS[2])
`;

/** KEYS: [firstAttempt] ARGV: [order, model, ttl] */
const FIRST_ATTEMPT_LUA = `${LUA_RULES}
first_attempt(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]))
return 1
`;

/**
 * A page of facts in one call. KEYS: [ctx, park]×t, [fb]×f, [fa]×a
 * ARGV: [ttl, t, f, a, json×t, (order, model)×a]. Returns, per trace, 1 when records wait for it.
 */
const ADD_PAGE_LUA = `${LUA_RULES}
local ttl, t, f, a = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 1, t do
  merge(KEYS[2 * i - 1], ARGV[4 + i], ttl)
  out[i] = redis.call('EXISTS', KEYS[2 * i])
end
for i = 1, f do redis.call('SET', KEYS[2 * t + i], '1', 'EX', ttl) end
for i = 1, a do first_attempt(KEYS[2 * t + f + i], ARGV[3 + t + 2 * i], ARGV[4 + t + 2 * i], ttl) end
return out
`;

/**
 * A page of lookups in one call. KEYS: [ctx]×t, [fb, fa]×p  ARGV: [t]
 * Returns, per trace, its context JSON or false, then per parent its first attempt
 * ({order, model}) when the parent is a fallback chain, else false.
 */
const LOOKUP_PAGE_LUA = `
local t = tonumber(ARGV[1])
local out = {}
for i = 1, t do out[i] = redis.call('GET', KEYS[i]) end
for i = t + 1, #KEYS, 2 do
  local fa = false
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local v = redis.call('HMGET', KEYS[i + 1], 'order', 'model')
    if v[1] then fa = { v[1], v[2] or '' } end
  end
  out[#out + 1] = fa
end
return out
`;

export interface RedisContextOptions {
  prefix: string;
  /** How long a trace context is remembered for late records (and fallback facts). */
  ttlSeconds: number;
  /** How long a record waits for its trace before it is reported as an orphan. */
  parkSeconds: number;
  /**
   * One script call per key (what a cluster needs: a page's keys span slots) instead of one per
   * page. Default: per key on a cluster only; tests compare the two on one server.
   */
  perKey?: boolean;
}

type Commands = {
  tbMergeContext(ctx: string, park: string, json: string, ttl: number): Promise<number>;
  tbFirstAttempt(key: string, order: string, model: string, ttl: number): Promise<number>;
  tbAddPage(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<number[]>;
  tbLookupPage(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<(string | false | [string, string])[]>;
};

/**
 * The worker's trace-context store: contexts live in Redis with a TTL, so a Langfuse traces
 * export and its observations join across files and ingest jobs, in either order, with memory
 * bounded by the TTL, not by file sizes. Records whose trace is unknown are parked until it
 * arrives (or reported as orphans when it never does).
 */
export class RedisContextStore implements ContextStore {
  private readonly released = new Set<string>();
  /** Parked items handed out and not yet committed: [list key, item json, trace key]. */
  private handedOut: [string, string, string][] = [];

  constructor(private readonly redis: Redis, private readonly opts: RedisContextOptions) {
    redis.defineCommand("tbMergeContext", { numberOfKeys: 2, lua: MERGE_CONTEXT_LUA });
    redis.defineCommand("tbFirstAttempt", { numberOfKeys: 1, lua: FIRST_ATTEMPT_LUA });
    redis.defineCommand("tbAddPage", { lua: ADD_PAGE_LUA });
    redis.defineCommand("tbLookupPage", { lua: LOOKUP_PAGE_LUA });
    // A page's keys span hash slots: one script call per page on a single server, per key on a cluster.
    this.paged = !(opts.perKey ?? isCluster(redis));
  }

  private readonly paged: boolean;

  private k(kind: string, platform: Platform, id: string): string {
    return `${this.opts.prefix}:ctx:${kind}:{${platform}:${id}}`;
  }
  private get parkedIndex(): string {
    return `${this.opts.prefix}:ctx:parked`;
  }

  async add(platform: Platform, facts: ContextFacts[]): Promise<void> {
    if (facts.length === 0) return;
    const traces: TraceContext[] = [];
    const chains: string[] = [];
    // First attempts are folded per parent here first (same rule as the script), so a parent
    // with several model calls in the page costs one write, not one per child.
    const attempts = new Map<string, Attempt>();
    for (const f of facts) {
      if (f.trace) traces.push(f.trace);
      const node = f.node;
      if (!node) continue;
      if (!node.isModelCall && FALLBACK_CHAIN_NAMES.has(node.name)) chains.push(node.recordId);
      if (node.isModelCall && node.parentId !== null) {
        const a = attemptOf(node);
        const seen = attempts.get(node.parentId);
        // The script's rule: the first one, then any with an order ('' = none) before the kept one's.
        if (!seen || (a.order && (!seen.order || byteLess(a.order, seen.order)))) attempts.set(node.parentId, a);
      }
    }
    const waiting = this.paged ? await this.addPage(platform, traces, chains, attempts) : await this.addPerKey(platform, traces, chains, attempts);
    waiting.forEach((w, i) => {
      if (w === 1) this.released.add(`${platform}\u0000${traces[i]!.traceId}`);
    });
  }

  private async addPage(platform: Platform, traces: TraceContext[], chains: string[], attempts: Map<string, Attempt>): Promise<number[]> {
    if (!traces.length && !chains.length && !attempts.size) return [];
    const keys: string[] = [];
    const args: (string | number)[] = [this.opts.ttlSeconds, traces.length, chains.length, attempts.size];
    for (const t of traces) {
      keys.push(this.k("t", platform, t.traceId), this.k("park", platform, t.traceId));
      args.push(contextJson(t));
    }
    for (const id of chains) keys.push(this.k("fb", platform, id));
    for (const [parentId, a] of attempts) {
      keys.push(this.k("fa", platform, parentId));
      args.push(a.order ?? "", a.model ?? "");
    }
    return (this.redis as unknown as Commands).tbAddPage(keys.length, ...keys, ...args);
  }

  private async addPerKey(platform: Platform, traces: TraceContext[], chains: string[], attempts: Map<string, Attempt>): Promise<number[]> {
    const ttl = this.opts.ttlSeconds;
    const p = slotSafePipeline(this.redis) as unknown as ReturnType<Redis["pipeline"]> & Commands;
    for (const t of traces) p.tbMergeContext(this.k("t", platform, t.traceId), this.k("park", platform, t.traceId), contextJson(t), ttl);
    for (const id of chains) p.set(this.k("fb", platform, id), "1", "EX", ttl);
    for (const [parentId, a] of attempts) p.tbFirstAttempt(this.k("fa", platform, parentId), a.order ?? "", a.model ?? "", ttl);
    const results = (await p.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    // The merges come first in the pipeline.
    return results.slice(0, traces.length).map(([, v]) => v as number);
  }

  async apply(records: TraceRecord[]): Promise<Joined[]> {
    if (records.length === 0) return [];
    // One lookup per trace and per parent of a model call in the page: a trace's records share them.
    const traceAt = new Map<string, number>();
    const parentAt = new Map<string, number>();
    const parents: [Platform, string][] = [];
    const slots: [number, number | undefined][] = [];
    for (const r of records) {
      const tk = this.k("t", r.platform, r.traceId);
      let ti = traceAt.get(tk);
      if (ti === undefined) traceAt.set(tk, (ti = traceAt.size));
      let pi: number | undefined;
      if (r.isModelCall && r.parentId !== null) {
        const pk = `${r.platform}\u0000${r.parentId}`;
        pi = parentAt.get(pk);
        if (pi === undefined) {
          parentAt.set(pk, (pi = parents.length));
          parents.push([r.platform, r.parentId]);
        }
      }
      slots.push([ti, pi]);
    }
    const { contexts, firstAttempts } = this.paged ? await this.lookupPage([...traceAt.keys()], parents) : await this.lookupPerKey([...traceAt.keys()], parents);
    const parsed = new Map<number, TraceContext | undefined>();
    return records.map((r, k) => {
      const [ti, pi] = slots[k]!;
      let trace = parsed.get(ti);
      if (trace === undefined && !parsed.has(ti)) parsed.set(ti, (trace = parseContext(contexts[ti] ?? null)));
      return join(r, { trace, firstAttempt: pi === undefined ? undefined : firstAttempts[pi] });
    });
  }

  private async lookupPage(traceKeys: string[], parents: [Platform, string][]): Promise<Lookups> {
    const keys = [...traceKeys];
    for (const [platform, id] of parents) keys.push(this.k("fb", platform, id), this.k("fa", platform, id));
    const res = await (this.redis as unknown as Commands).tbLookupPage(keys.length, ...keys, traceKeys.length);
    return {
      contexts: res.slice(0, traceKeys.length).map((v) => (typeof v === "string" ? v : null)),
      firstAttempts: res.slice(traceKeys.length).map((v) => (Array.isArray(v) ? { order: v[0] || null, model: v[1] || null } : undefined)),
    };
  }

  private async lookupPerKey(traceKeys: string[], parents: [Platform, string][]): Promise<Lookups> {
    const p = slotSafePipeline(this.redis);
    for (const tk of traceKeys) p.get(tk);
    for (const [platform, id] of parents) {
      p.exists(this.k("fb", platform, id));
      p.hgetall(this.k("fa", platform, id));
    }
    const res = ((await p.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const firstAttempts: (Attempt | undefined)[] = parents.map((_, i) => {
      const isChain = res[traceKeys.length + 2 * i] === 1;
      const fa = res[traceKeys.length + 2 * i + 1] as Record<string, string> | null;
      return isChain && fa && fa.order !== undefined ? { order: fa.order || null, model: fa.model || null } : undefined;
    });
    return { contexts: res.slice(0, traceKeys.length) as (string | null)[], firstAttempts };
  }

  async park(records: TraceRecord[]): Promise<TraceRecord[]> {
    if (records.length === 0) return [];
    const now = Date.now();
    const p = slotSafePipeline(this.redis);
    for (const r of records) {
      const park = this.k("park", r.platform, r.traceId);
      p.rpush(park, JSON.stringify(r));
      p.expire(park, this.opts.parkSeconds);
      p.zadd(this.parkedIndex, "NX", now, `${r.platform}\u0000${r.traceId}`);
    }
    await p.exec();
    // The trace may have been added by another job between our join and the push above;
    // its merge saw no parked records then, so take those back here.
    const traces = [...new Set(records.map((r) => `${r.platform}\u0000${r.traceId}`))];
    const check = slotSafePipeline(this.redis);
    for (const t of traces) {
      const [platform, id] = t.split("\u0000") as [Platform, string];
      check.exists(this.k("t", platform, id));
    }
    const exists = ((await check.exec()) ?? []).map(([, v]) => v === 1);
    const arrived = traces.filter((_, i) => exists[i]);
    return this.take(arrived);
  }

  async takeReleased(): Promise<TraceRecord[]> {
    const keys = [...this.released];
    this.released.clear();
    return this.take(keys);
  }

  /** Parked records and when the oldest was parked, for reports. */
  async parkedSummary(): Promise<{ traces: number; oldest: string | null }> {
    const traces = await this.redis.zcard(this.parkedIndex);
    const first = await this.redis.zrange(this.parkedIndex, 0, 0, "WITHSCORES");
    return { traces, oldest: first[1] ? new Date(Number(first[1])).toISOString() : null };
  }

  /** Removes what take() handed out, item by item, so records parked meanwhile stay. */
  async commitReleased(): Promise<void> {
    if (!this.handedOut.length) return;
    const p = slotSafePipeline(this.redis);
    for (const [list, json] of this.handedOut) p.lrem(list, 1, json);
    await p.exec();
    const traces = [...new Set(this.handedOut.map(([, , t]) => t))];
    this.handedOut = [];
    const lens = slotSafePipeline(this.redis);
    for (const t of traces) {
      const [platform, id] = t.split("\u0000") as [Platform, string];
      lens.llen(this.k("park", platform, id));
    }
    const left = ((await lens.exec()) ?? []).map(([, v]) => v as number);
    const empty = traces.filter((_, i) => left[i] === 0);
    if (empty.length) await this.redis.zrem(this.parkedIndex, ...empty);
  }

  private async take(traceKeys: string[]): Promise<TraceRecord[]> {
    const out: TraceRecord[] = [];
    for (const t of traceKeys) {
      const [platform, id] = t.split("\u0000") as [Platform, string];
      const park = this.k("park", platform, id);
      for (const json of await this.redis.lrange(park, 0, -1)) {
        this.handedOut.push([park, json, t]);
        out.push(JSON.parse(json) as TraceRecord);
      }
    }
    return out;
  }
}

/** Per trace of a page its stored context JSON, per parent its first attempt under a fallback chain. */
interface Lookups {
  contexts: (string | null)[];
  firstAttempts: (Attempt | undefined)[];
}

/** Lua's string `<` (byte order). */
function byteLess(a: string, b: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(a + b) ? a < b : Buffer.compare(Buffer.from(a), Buffer.from(b)) < 0;
}

/**
 * Numbers travel as tagged strings: the merge script's cjson re-encodes numbers with 14
 * significant digits, which would turn a numeric tenant id 1234567890123456 into
 * 1.2345678901235e+15 (and bill someone else). The tag survives Lua untouched.
 */
const NUM = "$tb_num";

function contextJson(c: TraceContext): string {
  let attributes: Record<string, unknown> = c.attributes;
  for (const [k, v] of Object.entries(c.attributes)) {
    if (typeof v !== "number") continue;
    if (attributes === c.attributes) attributes = { ...c.attributes };
    attributes[k] = { [NUM]: JSON.stringify(v) };
  }
  return JSON.stringify(attributes === c.attributes ? c : { ...c, attributes });
}

function untagNumbers(attributes: Record<string, unknown>): TraceContext["attributes"] {
  for (const [k, v] of Object.entries(attributes)) {
    if (v !== null && typeof v === "object" && NUM in v) attributes[k] = Number((v as Record<string, string>)[NUM]);
  }
  return attributes as TraceContext["attributes"];
}

function parseContext(json: string | null): TraceContext | undefined {
  if (!json) return undefined;
  const c = JSON.parse(json) as TraceContext;
  // cjson encodes an empty Lua table as an object: restore the shapes.
  return {
    traceId: c.traceId,
    attributes: c.attributes && !Array.isArray(c.attributes) ? untagNumbers(c.attributes) : {},
    tags: Array.isArray(c.tags) ? c.tags : [],
    userId: c.userId ?? null,
    sessionId: c.sessionId ?? null,
    name: c.name ?? null,
  };
}
