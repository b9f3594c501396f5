import type { Redis } from "ioredis";
import type { BillableEvent, Destination, UsageTotal } from "../model/index.js";
import { dayOf, type DeadLetter, type Ledger } from "./ledger.js";

const SEP = "\u001f"; // unit separator: cannot appear in customer ids or metric codes we emit

/**
 * Marks each key delivered with SET NX and, only when the key is new, adds its value to the
 * day's aggregate — atomically, so two workers racing on the same event count it once.
 * KEYS: [k1..kn, agg1..aggn]; ARGV: [ttlSeconds, n, field1, value1, field2, value2, ...]
 */
const RECORD_LUA = `
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local added = 0
for i = 1, n do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
    local agg = KEYS[n + i]
    local field = ARGV[1 + 2 * i]
    redis.call('HINCRBYFLOAT', agg, 'v' .. field, ARGV[2 + 2 * i])
    redis.call('HINCRBY', agg, 'n' .. field, 1)
    redis.call('EXPIRE', agg, ttl)
    added = added + 1
  end
end
return added
`;

/** Claims each key for `owner` unless another owner holds it; re-claiming your own renews it. */
const CLAIM_LUA = `
local out = {}
for i = 1, #KEYS do
  local cur = redis.call('GET', KEYS[i])
  if (not cur) or cur == ARGV[1] then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', tonumber(ARGV[2]))
    table.insert(out, i)
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

export interface RedisLedgerOptions {
  /** Key prefix; the destination is a hash tag so one destination's keys share a cluster slot. */
  prefix: string;
  /** How long a delivered key is remembered (the replay horizon). */
  ttlSeconds: number;
}

export class RedisLedger implements Ledger {
  constructor(private readonly redis: Redis, private readonly opts: RedisLedgerOptions) {
    redis.defineCommand("tbRecordDelivered", { lua: RECORD_LUA });
    redis.defineCommand("tbClaim", { lua: CLAIM_LUA });
    redis.defineCommand("tbRelease", { lua: RELEASE_LUA });
  }

  private base(d: Destination): string {
    return `${this.opts.prefix}:ledger:{${d}}`;
  }
  private keyOf(d: Destination, eventKey: string): string {
    return `${this.base(d)}:k:${eventKey}`;
  }
  private aggOf(d: Destination, day: string): string {
    return `${this.base(d)}:agg:${day}`;
  }

  async filterUndelivered(d: Destination, keys: string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const found = await this.redis.mget(keys.map((k) => this.keyOf(d, k)));
    return keys.filter((_, i) => found[i] === null);
  }

  async recordDelivered(d: Destination, events: BillableEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const keys = events.map((e) => this.keyOf(d, e.id));
    const aggs = events.map((e) => this.aggOf(d, dayOf(e.timestamp)));
    const args: (string | number)[] = [this.opts.ttlSeconds, events.length];
    for (const e of events) {
      const model = typeof e.properties.model === "string" ? e.properties.model : "";
      args.push([e.customer, e.metric, model].join(SEP), String(e.value));
    }
    const cmd = (this.redis as unknown as { tbRecordDelivered(n: number, ...a: (string | number)[]): Promise<number> }).tbRecordDelivered;
    return cmd.call(this.redis, keys.length * 2, ...keys, ...aggs, ...args);
  }

  private claimOf(d: Destination, eventKey: string): string {
    return `${this.base(d)}:claim:${eventKey}`;
  }

  async claim(d: Destination, keys: string[], owner: string, leaseMs: number): Promise<string[]> {
    if (keys.length === 0) return [];
    const cmd = (this.redis as unknown as { tbClaim(n: number, ...a: (string | number)[]): Promise<number[]> }).tbClaim;
    const got = await cmd.call(this.redis, keys.length, ...keys.map((k) => this.claimOf(d, k)), owner, leaseMs);
    return got.map((i) => keys[i - 1]!);
  }

  async release(d: Destination, keys: string[], owner: string): Promise<void> {
    if (keys.length === 0) return;
    const cmd = (this.redis as unknown as { tbRelease(n: number, ...a: string[]): Promise<number> }).tbRelease;
    await cmd.call(this.redis, keys.length, ...keys.map((k) => this.claimOf(d, k)), owner);
  }

  async deadLetter(d: Destination, letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const flat: string[] = [];
    for (const l of letters) flat.push(l.event.id, JSON.stringify(l));
    // A hash keyed by event id: a replayed rejection overwrites instead of piling up.
    await this.redis.hset(`${this.base(d)}:dlq`, ...flat);
  }

  async deadLetters(d: Destination, limit = 1000): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    let cursor = "0";
    do {
      const [next, items] = await this.redis.hscan(`${this.base(d)}:dlq`, cursor, "COUNT", 500);
      cursor = next;
      for (let i = 1; i < items.length && out.length < limit; i += 2) out.push(JSON.parse(items[i]!) as DeadLetter);
    } while (cursor !== "0" && out.length < limit);
    return out;
  }

  async totals(d: Destination, from: Date, to: Date): Promise<UsageTotal[]> {
    const rows = new Map<string, UsageTotal>();
    for (const day of daysBetween(from, to)) {
      const h = await this.redis.hgetall(this.aggOf(d, day));
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

/** UTC days d with from ≤ d < to (both truncated to the day; `to` rounded up). */
export function daysBetween(from: Date, to: Date): string[] {
  const days: string[] = [];
  const start = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  for (let t = start; t < to.getTime(); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}
