import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../config/env.js";
import type { Ledger } from "../ledger/ledger.js";
import type { Destination } from "../model/index.js";
import { noMetrics, type PipelineMetrics } from "../ops/metrics.js";
import type { Logger } from "../runtime/logger.js";
import { createRedisClient } from "../runtime/redis-client.js";
import type { BillingSink } from "../sinks/sink.js";
import { INGEST_QUEUE, bullPrefix, deliverQueue, type DeliverJobData, type IngestJobData } from "./jobs.js";
import { RetryLaterError, deliverProcessor } from "./deliver.js";
import { ingestProcessor } from "./ingest.js";
import { MappingCache } from "./mapping-cache.js";
import { SyncProgress } from "./progress.js";

export { RetryLaterError };

export interface WorkerDeps {
  config: Config;
  sinks: Partial<Record<Destination, BillingSink>>;
  ledger: Ledger;
  logger: Logger;
  /** Start the ingest worker in this process (default true). */
  ingest?: boolean;
  /** Per-stage counters, send latency and queue depths (src/ops/metrics.ts); none by default. */
  metrics?: PipelineMetrics;
}

export interface RunningWorker {
  /** Graceful: stops taking jobs, waits for in-flight ones, closes connections. */
  close(): Promise<void>;
  /** The ingest and delivery queues (for depth metrics and the dashboard); closed by close(). */
  readonly queues: readonly Queue[];
}

const MAX_BACKOFF_MS = 5 * 60_000;
/**
 * A job whose worker died is "stalled" and handed to another worker. BullMQ fails it for good
 * after maxStalledCount stalls (default 1), which would strand its events; our processing is
 * idempotent, so a crashed job is simply run again.
 */
const MAX_STALLED = 1000;

/** Exponential backoff with ±50% jitter, never shorter than what the destination asked for. */
export function backoffDelay(attemptsMade: number, baseMs: number, err?: Error, random = Math.random): number {
  const exp = baseMs * 2 ** Math.max(0, attemptsMade - 1);
  const jittered = exp * (0.5 + random());
  const hinted = err instanceof RetryLaterError && err.afterMs ? err.afterMs : 0;
  return Math.round(Math.min(Math.max(jittered, hinted), MAX_BACKOFF_MS));
}

export function jobDefaults(config: Config) {
  return {
    attempts: config.maxAttempts,
    backoff: { type: "tracebill" },
    // A completed deliver job keeps its 100 events in Redis (~600 B each): keep few, briefly. They
    // only make a resumed ingest's re-added batches (at most one flush, 20) no-ops, and the ledger
    // and the settled bits make those no-ops anyway. 200 jobs ≈ 12 MB.
    removeOnComplete: { age: 3_600, count: 200 },
    removeOnFail: { age: 7 * 86_400 },
  };
}

/**
 * A BullMQ connection for the connection string (Config.redisUrl): a single server or a Redis
 * Cluster, TLS and auth included (runtime/redis-client.ts opens every connection).
 */
export function redisConnection(url: string): Redis {
  // BullMQ workers block on Redis; ioredis must not give up on a command while Redis restarts.
  return createRedisClient(url, { maxRetriesPerRequest: null });
}

export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const { config, sinks, ledger, logger } = deps;
  const prefix = bullPrefix(config.queuePrefix);
  const conn = redisConnection(config.redisUrl);
  const progress = new SyncProgress(conn, config.queuePrefix);
  const destinations = Object.keys(sinks) as Destination[];
  const queues = new Map<Destination, Queue<DeliverJobData>>(
    destinations.map((d) => [d, new Queue<DeliverJobData>(deliverQueue(d), { connection: conn, prefix })]),
  );
  const metrics = deps.metrics ?? noMetrics;
  const ingestQueue = new Queue<IngestJobData>(INGEST_QUEUE, { connection: conn, prefix });
  const allQueues: Queue[] = [ingestQueue, ...queues.values()];
  const unwatch = metrics.watchQueues(allQueues);
  const settings = { backoffStrategy: (n: number, _t?: string, err?: Error) => backoffDelay(n, config.backoffMs, err) };
  const workers: Worker[] = [];
  // BullMQ does not close connections it was handed; keep them to close on shutdown.
  const connections: Redis[] = [conn];
  const own = () => {
    const c = redisConnection(config.redisUrl);
    connections.push(c);
    return c;
  };

  const ingest = ingestProcessor({
    config, conn, progress, logger, metrics, jobOptions: jobDefaults(config), mappings: new MappingCache(),
    sinkFor: (d) => {
      const sink = sinks[d as Destination];
      const queue = queues.get(d as Destination);
      return sink && queue ? { sink, queue } : undefined;
    },
  });
  const deliver = deliverProcessor({
    config, ledger, progress, logger, sinks, metrics,
    // Queue-wide pause: every worker stops taking this destination's batches until it answers again.
    pauseDestination: (d, ms) => queues.get(d)!.rateLimit(ms),
  });

  if (deps.ingest !== false) {
    workers.push(new Worker<IngestJobData>(INGEST_QUEUE, ingest, { connection: own(), prefix, concurrency: 1, settings, lockDuration: config.jobLockMs, stalledInterval: config.jobLockMs, maxStalledCount: MAX_STALLED }));
  }
  for (const d of destinations) {
    workers.push(new Worker<DeliverJobData>(deliverQueue(d), deliver, { connection: own(), prefix, concurrency: config.deliveryConcurrency, limiter: { max: config.deliveryRatePerSecond, duration: 1000 }, settings, lockDuration: config.jobLockMs, stalledInterval: config.jobLockMs, maxStalledCount: MAX_STALLED }));
  }
  for (const w of workers) {
    w.on("failed", (job, err) => {
      if (!(err instanceof RetryLaterError)) logger.error({ queue: w.name, jobId: job?.id, err: err.message }, "job failed");
    });
    w.on("error", (err) => logger.error({ queue: w.name, err: err.message }, "worker error"));
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  logger.info({ destinations, prefix }, "worker ready");

  return {
    queues: allQueues,
    close: async () => {
      unwatch();
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(allQueues.map((q) => q.close()));
      await Promise.all(connections.map((c) => c.quit().catch(() => undefined)));
    },
  };
}
