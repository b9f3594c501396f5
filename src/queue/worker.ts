import { Queue, UnrecoverableError, Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../config/env.js";
import type { Ledger } from "../ledger/ledger.js";
import { loadMappingSet } from "../mapping/index.js";
import type { BillableEvent, Destination, Quarantined } from "../model/index.js";
import { UserError } from "../model/index.js";
import { mapInputs } from "../pipeline/map-inputs.js";
import type { Logger } from "../runtime/logger.js";
import type { BillingSink } from "../sinks/sink.js";
import { INGEST_QUEUE, bullPrefix, deliverQueue, type DeliverJobData, type IngestJobData } from "./jobs.js";
import { SyncProgress } from "./progress.js";

/** A transient delivery failure; carries the destination's "retry after" hint into the backoff. */
export class RetryLaterError extends Error {
  override name = "RetryLaterError";
  constructor(message: string, readonly afterMs?: number) {
    super(message);
  }
}

export interface WorkerDeps {
  config: Config;
  sinks: Partial<Record<Destination, BillingSink>>;
  ledger: Ledger;
  logger: Logger;
  /** Start the ingest worker in this process (default true). */
  ingest?: boolean;
}

export interface RunningWorker {
  /** Graceful: stops taking jobs, waits for in-flight ones, closes connections. */
  close(): Promise<void>;
}

const QUARANTINE_SAMPLE = 200;
const MAX_BACKOFF_MS = 5 * 60_000;

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
    removeOnComplete: { age: 86_400, count: 50_000 },
    removeOnFail: { age: 7 * 86_400 },
  };
}

export function redisConnection(url: string): Redis {
  // BullMQ workers block on Redis; ioredis must not give up on a command while Redis restarts.
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
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
  const settings = { backoffStrategy: (n: number, _t?: string, err?: Error) => backoffDelay(n, config.backoffMs, err) };
  const workers: Worker[] = [];
  // BullMQ does not close connections it was handed; keep them to close on shutdown.
  const connections: Redis[] = [conn];
  const own = () => {
    const c = redisConnection(config.redisUrl);
    connections.push(c);
    return c;
  };

  async function ingest(job: Job<IngestJobData>): Promise<{ events: number }> {
    const { syncId, destination, inputs, mappingPath } = job.data;
    const sink = sinks[destination];
    const queue = queues.get(destination);
    if (!sink || !queue) {
      const msg = `this worker has no ${destination} destination configured`;
      await progress.fail(syncId, msg);
      throw new UnrecoverableError(msg);
    }
    try {
      const mappings = await loadMappingSet(mappingPath);
      const size = sink.limits.maxBatchSize;
      const opts = jobDefaults(config);
      let batch: BillableEvent[] = [];
      let pending: { name: string; data: DeliverJobData; opts: object }[] = [];
      let batchNo = 0;
      let events = 0;
      let quarantined = 0;
      const quarantine: Quarantined[] = [];
      const skipReasons: Record<string, number> = {};
      const flushJobs = async () => {
        if (pending.length) await queue.addBulk(pending);
        pending = [];
      };
      const cut = async () => {
        if (!batch.length) return;
        // Deterministic job ids: a retried ingest re-adds the same batches, which BullMQ ignores.
        pending.push({ name: "deliver", data: { syncId, destination, events: batch }, opts: { ...opts, jobId: `${syncId}-${batchNo++}` } });
        batch = [];
        if (pending.length >= 20) await flushJobs();
      };
      for await (const item of mapInputs(inputs, mappings)) {
        if (item.kind === "event") {
          batch.push(item.event);
          events++;
          if (batch.length >= size) await cut();
        } else if (item.kind === "skip") {
          skipReasons[item.skip.reason] = (skipReasons[item.skip.reason] ?? 0) + 1;
        } else {
          quarantined++;
          if (quarantine.length < QUARANTINE_SAMPLE) quarantine.push(item.entry);
          logger.warn({ syncId, ...item.entry }, "record quarantined");
        }
      }
      await cut();
      await flushJobs();
      await progress.finishIngest(syncId, { events, skipReasons, quarantined, quarantine });
      logger.info({ syncId, destination, events, batches: batchNo, quarantined }, "ingest finished");
      return { events };
    } catch (e) {
      if (e instanceof UserError) {
        await progress.fail(syncId, e.message);
        throw new UnrecoverableError(e.message);
      }
      throw e;
    }
  }

  async function deliver(job: Job<DeliverJobData>): Promise<void> {
    const { syncId, destination, events } = job.data;
    const sink = sinks[destination];
    if (!sink) throw new UnrecoverableError(`this worker has no ${destination} destination configured`);
    // Dedupe first: whatever the ledger already holds is never sent again.
    const undelivered = new Set(await ledger.filterUndelivered(destination, events.map((e) => e.id)));
    const already = events.filter((e) => !undelivered.has(e.id));
    await progress.settle(syncId, already.map((e) => e.id), "already");
    const toSend = events.filter((e) => undelivered.has(e.id));
    if (!toSend.length) return;

    const outcomes = await sink.send(toSend);
    const delivered: BillableEvent[] = [];
    const duplicates: BillableEvent[] = [];
    const dead: { event: BillableEvent; reason: string }[] = [];
    const retry: { event: BillableEvent; reason: string; afterMs?: number }[] = [];
    toSend.forEach((event, i) => {
      const o = outcomes[i] ?? { status: "retry" as const, reason: "destination returned no outcome for this event" };
      if (o.status === "delivered") delivered.push(event);
      else if (o.status === "duplicate") duplicates.push(event);
      else if (o.status === "rejected") dead.push({ event, reason: o.reason });
      else retry.push({ event, reason: o.reason, afterMs: o.afterMs });
    });

    await ledger.recordDelivered(destination, [...delivered, ...duplicates]);
    await progress.settle(syncId, delivered.map((e) => e.id), "delivered");
    await progress.settle(syncId, duplicates.map((e) => e.id), "already");

    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (retry.length && lastAttempt) {
      for (const r of retry) dead.push({ event: r.event, reason: `gave up after ${job.attemptsMade + 1} attempts: ${r.reason}` });
    }
    if (dead.length) {
      const at = new Date().toISOString();
      await ledger.deadLetter(destination, dead.map((d) => ({ ...d, at })));
      await progress.settle(syncId, dead.map((d) => d.event.id), "dead");
      logger.warn({ syncId, destination, count: dead.length, reasons: [...new Set(dead.map((d) => d.reason))].slice(0, 5) }, "events dead-lettered");
    }
    if (retry.length && !lastAttempt) {
      const afterMs = Math.max(0, ...retry.map((r) => r.afterMs ?? 0)) || undefined;
      logger.info({ syncId, destination, pending: retry.length, attempt: job.attemptsMade + 1, reason: retry[0]!.reason }, "delivery will be retried");
      throw new RetryLaterError(`${retry.length} events not yet accepted: ${retry[0]!.reason}`, afterMs);
    }
  }

  if (deps.ingest !== false) {
    workers.push(new Worker<IngestJobData>(INGEST_QUEUE, ingest, { connection: own(), prefix, concurrency: 1, settings }));
  }
  for (const d of destinations) {
    workers.push(new Worker<DeliverJobData>(deliverQueue(d), deliver, { connection: own(), prefix, concurrency: config.deliveryConcurrency, settings }));
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
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([...queues.values()].map((q) => q.close()));
      await Promise.all(connections.map((c) => c.quit().catch(() => undefined)));
    },
  };
}
