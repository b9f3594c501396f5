import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../../config/env.js";
import { DESTINATIONS, type Destination } from "../../model/index.js";
import { PULL_QUEUE } from "../../pull/schedule.js";
import { WatermarkStore } from "../../pull/watermark.js";
import { lastReconcileRuns, readThroughput, type ReconcileRun, type Throughput } from "../../queue/activity.js";
import { INGEST_QUEUE, bullPrefix, deliverQueue } from "../../queue/jobs.js";
import { SyncProgress } from "../../queue/progress.js";
import { RECONCILE_QUEUE } from "../../queue/reconcile-schedule.js";
import { describeRedisTarget } from "../../runtime/redis-client.js";
import { baseContext, connectRedis, isConfigured, ledgerFor } from "../context.js";
import { table } from "../table.js";

export interface StatusOptions {
  json?: boolean;
}

export interface QueueDepth {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface LastSync {
  syncId: string;
  startedAt: string;
  state: "finished" | "running" | "failed";
  events: number;
  delivered: number;
  already: number;
  dead: number;
}

export interface DestinationStatus {
  destination: Destination;
  /** LAGO_API_URL + key (or OPENMETER_*) are set in this environment. */
  configured: boolean;
  deadLetters: number;
  throughput: Throughput;
  lastSync: LastSync | null;
  lastReconcile: ReconcileRun | null;
}

export interface Status {
  redis: string;
  queuePrefix: string;
  generatedAt: string;
  queues: QueueDepth[];
  destinations: DestinationStatus[];
  pulls: { platform: string; project: string; watermark: string | null; updatedAt: string | null }[];
}

/** Everything `tracebill status` shows, read from Redis (no destination is called). */
export async function readStatus(redis: Redis, config: Config, now = new Date()): Promise<Status> {
  const prefix = bullPrefix(config.queuePrefix);
  const names = [INGEST_QUEUE, ...DESTINATIONS.map(deliverQueue), RECONCILE_QUEUE, PULL_QUEUE];
  const queues: QueueDepth[] = [];
  for (const name of names) {
    const q = new Queue(name, { connection: redis, prefix });
    try {
      const c = await q.getJobCounts("waiting", "active", "delayed", "failed", "prioritized");
      queues.push({ queue: name, waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 });
    } finally {
      await q.close();
    }
  }
  const ledger = ledgerFor(redis, config);
  const progress = new SyncProgress(redis, config.queuePrefix);
  const reconciles = await lastReconcileRuns(redis, config.queuePrefix);
  const destinations: DestinationStatus[] = [];
  for (const d of DESTINATIONS) {
    const last = await progress.latest(d);
    destinations.push({
      destination: d,
      configured: isConfigured(config, d),
      deadLetters: await ledger.deadLetterCount(d),
      throughput: await readThroughput(redis, config.queuePrefix, d, now.getTime()),
      lastSync: last
        ? {
            syncId: last.syncId, startedAt: last.startedAt,
            state: last.error ? "failed" : SyncProgress.isFinished(last) ? "finished" : "running",
            events: last.events, delivered: last.delivered, already: last.already, dead: last.dead,
          }
        : null,
      lastReconcile: reconciles[d] ?? null,
    });
  }
  const pulls = (await new WatermarkStore(redis, config.queuePrefix).streams()).map((s) => ({
    platform: s.platform, project: s.project,
    watermark: s.watermark === null ? null : new Date(s.watermark).toISOString(),
    updatedAt: s.updatedAt,
  }));
  return { redis: describeRedisTarget(config.redisUrl), queuePrefix: config.queuePrefix, generatedAt: now.toISOString(), queues, destinations, pulls };
}

export function formatStatus(s: Status): string {
  const out: string[] = [`tracebill status — ${s.redis}, prefix ${s.queuePrefix}, ${s.generatedAt}`, "", "Queues"];
  const q = table(["Queue", "Waiting", "Active", "Delayed", "Failed"], ["left", "right", "right", "right", "right"]);
  for (const r of s.queues) q.push([r.queue, r.waiting, r.active, r.delayed, r.failed]);
  out.push(q.toString(), "", "Destinations");
  const d = table(["Destination", "Configured", "Delivered 1m", "Delivered 15m", "Dead-lettered 15m", "DLQ", "Last sync", "Last scheduled reconcile"], ["left", "left", "right", "right", "right", "right", "left", "left"]);
  for (const r of s.destinations) {
    const sync = r.lastSync ? `${r.lastSync.startedAt} ${r.lastSync.state} (${r.lastSync.delivered}/${r.lastSync.events} delivered, ${r.lastSync.already} already, ${r.lastSync.dead} dead)` : "never";
    const rec = r.lastReconcile
      ? r.lastReconcile.error
        ? `${r.lastReconcile.at} failed: ${r.lastReconcile.error}`
        : `${r.lastReconcile.at} ${r.lastReconcile.ok ? "match" : `differences (${r.lastReconcile.missing ?? 0} missing, ${r.lastReconcile.excess ?? 0} excess)`}`
      : "never";
    d.push([r.destination, r.configured ? "yes" : "no", r.throughput.lastMinute.delivered, r.throughput.last15Minutes.delivered, r.throughput.last15Minutes.dead, r.deadLetters, sync, rec]);
  }
  out.push(d.toString(), "", "Last pull");
  if (s.pulls.length === 0) out.push("  never (no pull watermark in Redis)");
  else {
    const p = table(["Platform", "Project", "Watermark (read up to)", "Moved at"], ["left", "left", "left", "left"]);
    for (const r of s.pulls) p.push([r.platform, r.project, r.watermark ?? "", r.updatedAt ?? ""]);
    out.push(p.toString());
  }
  return out.join("\n") + "\n";
}

/** `tracebill status [--json]`: exit 0; exit 2 (UserError from connectRedis) when Redis is unreachable. */
export async function statusCommand(opts: StatusOptions = {}, out: NodeJS.WritableStream = process.stdout, ctx?: { redis: Redis; config: Config }): Promise<number> {
  const config = ctx?.config ?? baseContext().config;
  const redis = ctx?.redis ?? (await connectRedis(config));
  try {
    const s = await readStatus(redis, config);
    out.write(opts.json ? JSON.stringify(s, null, 2) + "\n" : formatStatus(s));
    return 0;
  } finally {
    if (!ctx) await redis.quit();
  }
}
