import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../config/env.js";
import type { BillableEvent, Destination } from "../model/index.js";
import type { DetectOverride } from "../sources/source.js";
import { INGEST_QUEUE, bullPrefix, deliverQueue, type DeliverJobData, type IngestJobData } from "./jobs.js";
import { SyncProgress, type SyncSnapshot } from "./progress.js";
import { jobDefaults } from "./worker.js";

/** Enqueues one ingest job carrying all inputs (so a Langfuse traces file joins its observations). */
export async function enqueueSync(
  conn: Redis,
  config: Config,
  req: { destination: Destination; inputs: string[]; mappingPath: string; override?: DetectOverride },
): Promise<string> {
  const syncId = randomUUID();
  const progress = new SyncProgress(conn, config.queuePrefix);
  await progress.start(syncId, req.destination);
  const queue = new Queue<IngestJobData>(INGEST_QUEUE, { connection: conn, prefix: bullPrefix(config.queuePrefix) });
  try {
    const data: IngestJobData = {
      syncId,
      destination: req.destination,
      inputs: req.inputs.map((p) => resolve(p)),
      mappingPath: resolve(req.mappingPath),
      ...(req.override ? { override: req.override } : {}),
    };
    await queue.add("ingest", data, { ...jobDefaults(config), jobId: `ingest-${syncId}` });
  } finally {
    await queue.close();
  }
  return syncId;
}

/** Polls until every event of the sync is delivered or dead-lettered (or ingest failed). */
export async function waitForSync(
  conn: Redis,
  config: Config,
  syncId: string,
  onTick?: (s: SyncSnapshot) => void,
  pollMs = 200,
): Promise<SyncSnapshot> {
  const progress = new SyncProgress(conn, config.queuePrefix);
  for (;;) {
    const s = await progress.snapshot(syncId);
    if (!s) throw new Error(`sync ${syncId} not found in Redis`);
    onTick?.(s);
    if (SyncProgress.isFinished(s)) return s;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Hands events (e.g. dead letters) back for delivery as a sync of their own, in batches of 100. */
export async function enqueueRetry(conn: Redis, config: Config, destination: Destination, events: BillableEvent[]): Promise<string> {
  const syncId = randomUUID();
  const progress = new SyncProgress(conn, config.queuePrefix);
  await progress.start(syncId, destination);
  const queue = new Queue<DeliverJobData>(deliverQueue(destination), { connection: conn, prefix: bullPrefix(config.queuePrefix) });
  try {
    const jobs = [];
    for (let b = 0; b * 100 < events.length; b++) {
      jobs.push({ name: "deliver", data: { syncId, destination, batch: b, events: events.slice(b * 100, (b + 1) * 100) }, opts: { ...jobDefaults(config), jobId: `${syncId}-${b}` } });
    }
    await queue.addBulk(jobs);
  } finally {
    await queue.close();
  }
  await progress.finishIngest(syncId, { events: events.length, skipReasons: {}, quarantined: 0, quarantine: [], parked: 0, perInput: {} });
  return syncId;
}
