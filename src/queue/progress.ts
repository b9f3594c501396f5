import type { Redis } from "ioredis";
import type { Exclusions, Quarantined } from "../model/index.js";
import { recordSettled, type SettledStatus } from "./activity.js";
import type { SyncSummary } from "../reconcile/reconcile.js";
import type { InputSummary } from "./jobs.js";

/** How an event occurrence of a sync ended (the same statuses the throughput counters keep). */
export type SettleStatus = SettledStatus;

export interface SyncSnapshot {
  syncId: string;
  destination: string;
  ingestDone: boolean;
  error: string | null;
  warning: string | null;
  events: number;
  delivered: number;
  already: number;
  dead: number;
  skipped: number;
  skipReasons: Record<string, number>;
  quarantined: number;
  quarantine: Quarantined[];
  /** Records held back until their trace context arrives (not billed to a guess). */
  parked: number;
  perInput: Record<string, InputSummary>;
  /** What the inputs held that was not billed, and why (absent until ingest is done). */
  exclusions?: Exclusions;
  settled: number;
}

/**
 * Settles each event occurrence of a sync once: a bit per occurrence (batch × SLOTS + index)
 * guards the counters, so a retried deliver job (or two workers on the same batch) can't count
 * an occurrence twice. A bitmap, not a set of "batch:index" strings: 16 bytes per batch of 100
 * for the week it is kept, where a set took ~60 bytes per event.
 * KEYS: [sync, bits] ARGV: [status, first offset, index...]
 */
const SETTLE_LUA = `
local n = 0
local base = tonumber(ARGV[2])
for i = 3, #ARGV do
  if redis.call('SETBIT', KEYS[2], base + tonumber(ARGV[i]), 1) == 0 then n = n + 1 end
end
if n > 0 then redis.call('HINCRBY', KEYS[1], ARGV[1], n) end
redis.call('EXPIRE', KEYS[2], 604800)
redis.call('EXPIRE', KEYS[1], 604800)
return n
`;

/** Bits reserved per deliver batch: above every destination's batch limit (100). */
const SLOTS = 128;

/** Per-sync counters in Redis, read by `sync --wait`. */
export class SyncProgress {
  constructor(private readonly redis: Redis, private readonly prefix: string) {
    redis.defineCommand("tbSettle", { numberOfKeys: 2, lua: SETTLE_LUA });
  }

  private key(id: string): string {
    return `${this.prefix}:sync:{${id}}`;
  }

  private index(destination: string): string {
    return `${this.prefix}:syncs:${destination}`;
  }

  async start(syncId: string, destination: string): Promise<void> {
    const now = Date.now();
    await this.redis.hset(this.key(syncId), { destination, ingestDone: "0", startedAt: new Date(now).toISOString() });
    await this.redis.expire(this.key(syncId), 604800);
    // Syncs of the last week per destination, for the reconciliation report's input summary.
    await this.redis.zadd(this.index(destination), now, syncId);
    await this.redis.zremrangebyscore(this.index(destination), 0, now - 604_800_000);
  }

  /** Snapshots of the syncs to `destination` started since `since`, oldest first. */
  async recent(destination: string, since: Date): Promise<(SyncSnapshot & { startedAt: string })[]> {
    const ids = await this.redis.zrangebyscore(this.index(destination), since.getTime(), "+inf");
    const out: (SyncSnapshot & { startedAt: string })[] = [];
    for (const id of ids) {
      const s = await this.snapshot(id);
      const startedAt = await this.redis.hget(this.key(id), "startedAt");
      if (s && startedAt) out.push({ ...s, startedAt });
    }
    return out;
  }

  /** The syncs to `destination` started since `since`, as the reconciliation report lists them. */
  async summaries(destination: string, since: Date): Promise<SyncSummary[]> {
    return (await this.recent(destination, since)).map((s) => ({
      syncId: s.syncId, startedAt: s.startedAt, events: s.events, delivered: s.delivered, already: s.already,
      dead: s.dead, skipped: s.skipped, quarantined: s.quarantined, parked: s.parked,
      inputs: Object.entries(s.perInput).map(([input, i]) => ({ input, records: i.records, events: i.events, quarantined: i.quarantined, notes: i.notes ?? [] })),
      ...(s.exclusions ? { exclusions: s.exclusions } : {}),
    }));
  }

  /** Settles occurrences (indexes into deliver batch `batch`) of `destination`'s sync. */
  async settle(syncId: string, destination: string, batch: number, indexes: number[], status: SettleStatus): Promise<number> {
    if (indexes.length === 0) return 0;
    for (const i of indexes) if (!Number.isInteger(i) || i < 0 || i >= SLOTS) throw new Error(`event index ${i} outside a batch of at most ${SLOTS}`);
    if (!Number.isInteger(batch) || batch < 0) throw new Error(`batch number ${batch} is not a whole number`);
    const cmd = (this.redis as unknown as { tbSettle(...a: (string | number)[]): Promise<number> }).tbSettle;
    const n = await cmd.call(this.redis, this.key(syncId), `${this.key(syncId)}:settledbits`, status, batch * SLOTS, ...indexes);
    // Throughput for `tracebill status`: another hash slot, so outside the script; never fails a delivery.
    if (n > 0) await recordSettled(this.redis, this.prefix, destination, status, n).catch(() => undefined);
    return n;
  }

  /** The newest sync to `destination` (with when it started), or null. */
  async latest(destination: string): Promise<(SyncSnapshot & { startedAt: string }) | null> {
    const [id] = await this.redis.zrange(this.index(destination), -1, -1);
    if (!id) return null;
    const s = await this.snapshot(id);
    const startedAt = await this.redis.hget(this.key(id), "startedAt");
    return s && startedAt ? { ...s, startedAt } : null;
  }

  /** Written once at the end of ingest (HSET is idempotent, so a retried ingest job can't inflate it). */
  async finishIngest(
    syncId: string,
    summary: { events: number; skipReasons: Record<string, number>; quarantined: number; quarantine: Quarantined[]; parked: number; perInput: Record<string, InputSummary>; exclusions?: Exclusions },
  ): Promise<void> {
    const skipped = Object.values(summary.skipReasons).reduce((a, b) => a + b, 0);
    await this.redis.hset(this.key(syncId), {
      events: String(summary.events),
      skipped: String(skipped),
      skipReasons: JSON.stringify(summary.skipReasons),
      quarantined: String(summary.quarantined),
      quarantine: JSON.stringify(summary.quarantine),
      parked: String(summary.parked),
      perInput: JSON.stringify(summary.perInput),
      ...(summary.exclusions ? { exclusions: JSON.stringify(summary.exclusions) } : {}),
      ingestDone: "1",
    });
  }

  /** Something the user must know about this sync that did not stop it. */
  async warn(syncId: string, message: string): Promise<void> {
    await this.redis.hset(this.key(syncId), { warning: message });
  }

  async fail(syncId: string, message: string): Promise<void> {
    await this.redis.hset(this.key(syncId), { error: message });
  }

  async snapshot(syncId: string): Promise<SyncSnapshot | null> {
    const h = await this.redis.hgetall(this.key(syncId));
    if (Object.keys(h).length === 0) return null;
    const n = (k: string) => Number(h[k] ?? 0);
    return {
      syncId,
      destination: h.destination ?? "",
      ingestDone: h.ingestDone === "1",
      error: h.error ?? null,
      warning: h.warning ?? null,
      events: n("events"),
      delivered: n("delivered"),
      already: n("already"),
      dead: n("dead"),
      skipped: n("skipped"),
      skipReasons: h.skipReasons ? (JSON.parse(h.skipReasons) as Record<string, number>) : {},
      quarantined: n("quarantined"),
      quarantine: h.quarantine ? (JSON.parse(h.quarantine) as Quarantined[]) : [],
      parked: n("parked"),
      perInput: h.perInput ? (JSON.parse(h.perInput) as Record<string, InputSummary>) : {},
      ...(h.exclusions ? { exclusions: JSON.parse(h.exclusions) as Exclusions } : {}),
      settled: n("delivered") + n("already") + n("dead"),
    };
  }

  /** Finished when ingest has counted its events and every one of them is settled. */
  static isFinished(s: SyncSnapshot): boolean {
    return s.error !== null || (s.ingestDone && s.settled >= s.events);
  }
}
