import type { Redis } from "ioredis";
import type { Platform, TraceRecord } from "../model/index.js";
import { slotSafePipeline } from "../runtime/redis-client.js";
import { FALLBACK_CHAIN_NAMES, attemptOf, join, type Attempt, type ContextStore, type Joined } from "./context.js";
import type { ContextFacts, TraceContext } from "./source.js";

/**
 * Merges a trace context into what is stored (own = newer values win, tags are a union) and
 * reports whether records are parked waiting for it. One key per call, so it runs on a cluster.
 * KEYS: [ctx, park] ARGV: [json, ttl]
 */
const MERGE_CONTEXT_LUA = `
local new = cjson.decode(ARGV[1])
local old = redis.call('GET', KEYS[1])
if old then
  local o = cjson.decode(old)
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
end
redis.call('SET', KEYS[1], cjson.encode(new), 'EX', tonumber(ARGV[2]))
return redis.call('EXISTS', KEYS[2])
`;

/** Keeps the earliest attempt under a parent. KEYS: [firstAttempt] ARGV: [order, model, ttl] */
const FIRST_ATTEMPT_LUA = `
local cur = redis.call('HGET', KEYS[1], 'order')
if (not cur) or (ARGV[1] ~= '' and (cur == '' or ARGV[1] < cur)) then
  redis.call('HSET', KEYS[1], 'order', ARGV[1], 'model', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

export interface RedisContextOptions {
  prefix: string;
  /** How long a trace context is remembered for late records (and fallback facts). */
  ttlSeconds: number;
  /** How long a record waits for its trace before it is reported as an orphan. */
  parkSeconds: number;
}

type Commands = {
  tbMergeContext(ctx: string, park: string, json: string, ttl: number): Promise<number>;
  tbFirstAttempt(key: string, order: string, model: string, ttl: number): Promise<number>;
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
  }

  private k(kind: string, platform: Platform, id: string): string {
    return `${this.opts.prefix}:ctx:${kind}:{${platform}:${id}}`;
  }
  private get parkedIndex(): string {
    return `${this.opts.prefix}:ctx:parked`;
  }

  async add(platform: Platform, facts: ContextFacts[]): Promise<void> {
    if (facts.length === 0) return;
    const ttl = this.opts.ttlSeconds;
    const p = slotSafePipeline(this.redis) as unknown as ReturnType<Redis["pipeline"]> & Commands;
    // Pipeline position of each trace merge: its answer says whether records wait for that trace.
    const merges: { at: number; trace: string }[] = [];
    let cmd = 0;
    // First attempts are folded per parent here first (same rule as the script), so a parent
    // with several model calls in the page costs one call, not one per child.
    const attempts = new Map<string, Attempt>();
    for (const f of facts) {
      if (f.trace) {
        p.tbMergeContext(this.k("t", platform, f.trace.traceId), this.k("park", platform, f.trace.traceId), contextJson(f.trace), ttl);
        merges.push({ at: cmd++, trace: `${platform}\u0000${f.trace.traceId}` });
      }
      const node = f.node;
      if (!node) continue;
      if (!node.isModelCall && FALLBACK_CHAIN_NAMES.has(node.name)) {
        p.set(this.k("fb", platform, node.recordId), "1", "EX", ttl);
        cmd++;
      }
      if (node.isModelCall && node.parentId !== null) {
        const a = attemptOf(node);
        const seen = attempts.get(node.parentId);
        // The script's rule: the first one, then any with an order ('' = none) before the kept one's.
        if (!seen || (a.order && (!seen.order || byteLess(a.order, seen.order)))) attempts.set(node.parentId, a);
      }
    }
    for (const [parentId, a] of attempts) {
      p.tbFirstAttempt(this.k("fa", platform, parentId), a.order ?? "", a.model ?? "", ttl);
      cmd++;
    }
    const results = (await p.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    for (const m of merges) if (results[m.at]?.[1] === 1) this.released.add(m.trace);
  }

  async apply(records: TraceRecord[]): Promise<Joined[]> {
    if (records.length === 0) return [];
    const p = slotSafePipeline(this.redis);
    // One lookup per trace and per parent in the page: a trace's records share them.
    const traceAt = new Map<string, number>();
    const parentAt = new Map<string, number>();
    const slots: [number, number | undefined][] = [];
    let n = 0;
    for (const r of records) {
      const tk = this.k("t", r.platform, r.traceId);
      let ti = traceAt.get(tk);
      if (ti === undefined) {
        traceAt.set(tk, (ti = n++));
        p.get(tk);
      }
      let pi: number | undefined;
      if (r.isModelCall && r.parentId !== null) {
        const fb = this.k("fb", r.platform, r.parentId);
        pi = parentAt.get(fb);
        if (pi === undefined) {
          parentAt.set(fb, (pi = n));
          n += 2;
          p.exists(fb);
          p.hgetall(this.k("fa", r.platform, r.parentId));
        }
      }
      slots.push([ti, pi]);
    }
    const res = ((await p.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const contexts = new Map<number, TraceContext | undefined>();
    return records.map((r, k) => {
      const [ti, pi] = slots[k]!;
      let trace = contexts.get(ti);
      if (trace === undefined && !contexts.has(ti)) contexts.set(ti, (trace = parseContext(res[ti] as string | null)));
      let firstAttempt: Attempt | undefined;
      if (pi !== undefined) {
        const isChain = res[pi] === 1;
        const fa = res[pi + 1] as Record<string, string>;
        if (isChain && fa && fa.order !== undefined) firstAttempt = { order: fa.order || null, model: fa.model || null };
      }
      return join(r, { trace, firstAttempt });
    });
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
