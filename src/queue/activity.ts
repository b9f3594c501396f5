import type { Redis } from "ioredis";

/**
 * Small operational records read by `tracebill status`: events settled per 10-second bucket (a
 * key per destination × status × bucket, gone after 16 minutes) and the last scheduled
 * reconciliation per destination. Each destination's throughput keys share the hash tag
 * {destination}, so reading 15 minutes of them is one MGET on a Redis Cluster too.
 */

const BUCKET_MS = 10_000;
const KEEP_SECONDS = 16 * 60;

export type SettledStatus = "delivered" | "already" | "dead";

const bucketKey = (prefix: string, destination: string, status: SettledStatus, bucket: number) => `${prefix}:tput:{${destination}}:${status}:${bucket}`;

/** Counts `n` events of `destination` settled as `status` now. */
export async function recordSettled(redis: Redis, prefix: string, destination: string, status: SettledStatus, n: number, now = Date.now()): Promise<void> {
  if (n <= 0 || !destination) return;
  const key = bucketKey(prefix, destination, status, Math.floor(now / BUCKET_MS));
  // One key per call: MULTI is fine on a cluster.
  await redis.multi().incrby(key, n).expire(key, KEEP_SECONDS).exec();
}

export interface Throughput {
  /** Events settled in the last 60 s (the current 10-second bucket and the five before it). */
  lastMinute: Record<SettledStatus, number>;
  /** … in the last 15 minutes (90 buckets). */
  last15Minutes: Record<SettledStatus, number>;
}

export async function readThroughput(redis: Redis, prefix: string, destination: string, now = Date.now()): Promise<Throughput> {
  const cur = Math.floor(now / BUCKET_MS);
  const buckets = Array.from({ length: 90 }, (_, i) => cur - i);
  const out: Throughput = { lastMinute: { delivered: 0, already: 0, dead: 0 }, last15Minutes: { delivered: 0, already: 0, dead: 0 } };
  for (const status of ["delivered", "already", "dead"] as const) {
    const values = await redis.mget(...buckets.map((b) => bucketKey(prefix, destination, status, b)));
    values.forEach((v, i) => {
      const n = Number(v ?? 0);
      out.last15Minutes[status] += n;
      if (i < 6) out.lastMinute[status] += n;
    });
  }
  return out;
}

export interface ReconcileRun {
  destination: string;
  /** When the run ended (ISO). */
  at: string;
  ok: boolean;
  /** The report directory, when one was written. */
  dir?: string;
  rows?: number;
  matched?: number;
  missing?: number;
  excess?: number;
  /** Why the run failed (no report). */
  error?: string;
}

const reconcileKey = (prefix: string) => `${prefix}:reconcile:last`;

/** Keeps the last scheduled reconciliation of a destination (one hash field per destination). */
export async function recordReconcileRun(redis: Redis, prefix: string, run: ReconcileRun): Promise<void> {
  await redis.hset(reconcileKey(prefix), run.destination, JSON.stringify(run));
}

export async function lastReconcileRuns(redis: Redis, prefix: string): Promise<Record<string, ReconcileRun>> {
  const h = await redis.hgetall(reconcileKey(prefix));
  const out: Record<string, ReconcileRun> = {};
  for (const [d, json] of Object.entries(h)) {
    try {
      out[d] = JSON.parse(json) as ReconcileRun;
    } catch {
      // a record of a future version: not shown
    }
  }
  return out;
}
