import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import { RedisLedger, type RedisLedgerOptions } from "../ledger/redis-ledger.js";
import { idempotencyKey, type BillableEvent, type Destination } from "../model/index.js";
import { startRedisServer } from "../runtime/redis-server.js";

/**
 * Memory check for issue 5: records N delivered events (real tracebill keys, spread over
 * customers, models and usage days like a month of traffic) and prints what the ledger holds
 * per event, from two angles:
 *   - used_memory delta (INFO memory) — everything Redis allocated, on a private server;
 *   - MEMORY USAGE summed over the ledger's keys (+ the expires-dict entry each key with a TTL costs).
 * Usage: node dist/bench/ledger-memory.js [--events 200000] [--batch 1000] [--legacy]
 *   (REDIS_URL to use a running Redis instead of a private redis-server; used_memory is then
 *    only meaningful if nothing else writes to it.)
 */

export interface LedgerMemoryResult {
  events: number;
  recorded: number;
  /** Σ MEMORY USAGE of the ledger's keys + per-key TTL entry, per recorded event. */
  bytesPerEvent: number;
  /** Same, fingerprint buckets only (what grows with the event count). */
  fingerprintBytesPerEvent: number;
  /** INFO used_memory delta per recorded event (meaningful only on an otherwise idle Redis). */
  usedMemoryPerEvent: number;
  keys: number;
  buckets: number;
  /** Bucket encodings seen (all should be "intset"). */
  encodings: Record<string, number>;
  largestBucket: number;
  epochs: { id: string; depth: number }[];
  seconds: number;
}

/** A key with a TTL also has an entry in the db's expires dict (dictEntry, 24 B → 32 B jemalloc class), which MEMORY USAGE leaves out. */
const EXPIRES_ENTRY = 32;

export function benchEvents(n: number, seed = randomBytes(4).toString("hex")): BillableEvent[] {
  const models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4"];
  const out: BillableEvent[] = [];
  for (let i = 0; i < n; i++) {
    const recordId = `${seed}-run-${i}`;
    const type = i % 2 ? "output" : "input";
    const day = 1 + (i % 28);
    out.push({
      id: idempotencyKey({ platform: "langsmith", recordId, mapping: "llm-tokens", metric: "llm_tokens", discriminator: type, split: 0 }),
      customer: `tenant-${i % 50}`,
      metric: "llm_tokens",
      value: 100 + (i % 997),
      timestamp: `2026-02-${String(day).padStart(2, "0")}T12:00:00.000Z`,
      properties: { model: models[i % 3]!, type },
      source: { platform: "langsmith", record_id: recordId, trace_id: recordId },
      mapping: "llm-tokens",
    });
  }
  return out;
}

export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info("memory");
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== "0");
  return keys;
}

/** Records `events` delivered to `destination` and measures what the ledger holds for them. */
export async function measureLedgerMemory(
  redis: Redis,
  events: BillableEvent[],
  opts: Partial<RedisLedgerOptions> & { destination?: Destination; batch?: number } = {},
): Promise<LedgerMemoryResult> {
  const destination = opts.destination ?? "lago";
  const prefix = opts.prefix ?? `tracebill-ledgermem-${randomBytes(4).toString("hex")}`;
  const ledger = new RedisLedger(redis, { ttlSeconds: 45 * 86_400, ...opts, prefix });
  const batch = opts.batch ?? 1000;
  // Warm-up on another prefix: loads the scripts, so their memory is not counted.
  const warm = new RedisLedger(redis, { prefix: `${prefix}-warmup`, ttlSeconds: 60 });
  await warm.recordDelivered(destination, events.slice(0, 1));
  await warm.filterUndelivered(destination, [events[0]?.id ?? "x"]);

  const before = await usedMemory(redis);
  const started = Date.now();
  let recorded = 0;
  for (let i = 0; i < events.length; i += batch) recorded += await ledger.recordDelivered(destination, events.slice(i, i + batch));
  const seconds = (Date.now() - started) / 1000;
  const after = await usedMemory(redis);

  const k = await measureLedgerKeys(redis, prefix);
  const epochs = (await ledger.epochs(destination)).map((e) => ({ id: e.id, depth: e.depth }));
  const per = (x: number) => (recorded ? x / recorded : NaN);
  return {
    events: events.length, recorded, keys: k.keys, buckets: k.buckets, encodings: k.encodings, largestBucket: k.largestBucket, epochs, seconds,
    bytesPerEvent: per(k.bytes), fingerprintBytesPerEvent: per(k.fingerprintBytes), usedMemoryPerEvent: per(after - before),
  };
}

export interface LedgerKeys {
  keys: number;
  /** Σ MEMORY USAGE of the ledger's keys + the expires-dict entry of each key with a TTL. */
  bytes: number;
  /** Same, fingerprint buckets only. */
  fingerprintBytes: number;
  buckets: number;
  encodings: Record<string, number>;
  largestBucket: number;
}

/** What the ledger keys under `prefix` (every destination) hold in Redis, by MEMORY USAGE. */
export async function measureLedgerKeys(redis: Redis, prefix: string): Promise<LedgerKeys> {
  const keys = await scanKeys(redis, `${prefix}:ledger:*`);
  let total = 0;
  let fpTotal = 0;
  let buckets = 0;
  let largestBucket = 0;
  const encodings: Record<string, number> = {};
  const pipe = redis.pipeline();
  for (const k of keys) pipe.memory("USAGE", k, "SAMPLES", 0).pttl(k).object("ENCODING", k).type(k);
  const res = (await pipe.exec()) ?? [];
  for (let i = 0; i < keys.length; i++) {
    const usage = Number(res[4 * i]?.[1] ?? 0);
    const ttl = Number(res[4 * i + 1]?.[1] ?? -1);
    const bytes = usage + (ttl >= 0 ? EXPIRES_ENTRY : 0);
    total += bytes;
    if (/:f:\d+:\d+$/.test(keys[i]!)) {
      buckets++;
      fpTotal += bytes;
      const enc = String(res[4 * i + 2]?.[1]);
      encodings[enc] = (encodings[enc] ?? 0) + 1;
    }
  }
  if (buckets) {
    const sizes = redis.pipeline();
    for (const k of keys) if (/:f:\d+:\d+$/.test(k)) sizes.scard(k);
    for (const [, n] of (await sizes.exec()) ?? []) largestBucket = Math.max(largestBucket, Number(n));
  }
  return { keys: keys.length, bytes: total, fingerprintBytes: fpTotal, buckets, encodings, largestBucket };
}

/** The previous layout (one SET NX EX string per event) for comparison. */
async function measureLegacy(redis: Redis, events: BillableEvent[]): Promise<number> {
  const prefix = `tracebill-ledgermem-legacy-${randomBytes(4).toString("hex")}:ledger:{lago}:k:`;
  const before = await usedMemory(redis);
  for (let i = 0; i < events.length; i += 1000) {
    const p = redis.pipeline();
    for (const e of events.slice(i, i + 1000)) p.set(prefix + e.id, "1", "EX", 45 * 86_400, "NX");
    await p.exec();
  }
  return ((await usedMemory(redis)) - before) / events.length;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const num = (flag: string, dflt: number) => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) || dflt : dflt);
  const n = num("--events", 200_000);
  const batch = num("--batch", 1000);
  const redisProc = process.env.REDIS_URL ? undefined : await startRedisServer();
  const redis = new Redis(process.env.REDIS_URL ?? redisProc!.url);
  try {
    const events = benchEvents(n);
    const r = await measureLedgerMemory(redis, events, { batch });
    console.log(`${r.recorded.toLocaleString("en-US")} events recorded in ${r.seconds.toFixed(1)} s (${Math.round(r.recorded / r.seconds).toLocaleString("en-US")}/s, batches of ${batch})`);
    console.log(`ledger: ${r.bytesPerEvent.toFixed(2)} B/event by MEMORY USAGE (+TTL entries) over ${r.keys} keys; fingerprints alone ${r.fingerprintBytesPerEvent.toFixed(2)} B/event`);
    console.log(`used_memory delta: ${r.usedMemoryPerEvent.toFixed(2)} B/event (goal ≤ 32)`);
    console.log(`buckets: ${r.buckets} (${Object.entries(r.encodings).map(([k, v]) => `${v} ${k}`).join(", ")}), largest ${r.largestBucket} members`);
    console.log(`epochs: ${r.epochs.map((e) => `#${e.id} depth ${e.depth}`).join(", ")}`);
    if (args.includes("--legacy")) console.log(`previous layout (a string key per event): ${(await measureLegacy(redis, events)).toFixed(2)} B/event`);
  } finally {
    await redis.quit();
    await redisProc?.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
