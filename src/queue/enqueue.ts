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

/** What an unfinished sync has done so far, beyond its counters (for progress bars). */
export interface SyncLiveProgress {
  /** Records read from the inputs: from the ingest job's last checkpoint until ingest is done, exact after. */
  recordsRead: number;
  quarantined: number;
  /** Events mapped so far (the final count once ingest is done). */
  eventsMapped: number;
}

/** Records read so far: the snapshot's per-input summary once ingest is done, else the ingest job's last checkpoint. */
export async function liveProgress(queue: Queue<IngestJobData> | undefined, s: SyncSnapshot): Promise<SyncLiveProgress> {
  const sum = (per: Record<string, { records: number; quarantined: number }>) =>
    Object.values(per).reduce((a, i) => ({ records: a.records + i.records, quarantined: a.quarantined + i.quarantined }), { records: 0, quarantined: 0 });
  if (s.ingestDone || !queue) {
    const t = sum(s.perInput);
    return { recordsRead: t.records, quarantined: t.quarantined, eventsMapped: s.events };
  }
  const job = await queue.getJob(`ingest-${s.syncId}`);
  const cp = job?.data.checkpoint;
  if (!cp) return { recordsRead: 0, quarantined: 0, eventsMapped: 0 };
  const t = sum(cp.perInput);
  return { recordsRead: t.records, quarantined: t.quarantined, eventsMapped: cp.events };
}

/**
 * Polls until every event of the sync is delivered or dead-lettered (or ingest failed). `onTick`
 * sees each snapshot; with `opts.live` also the records read so far while ingest runs (read from
 * the ingest job's checkpoint: one more Redis read per poll).
 */
export async function waitForSync(
  conn: Redis,
  config: Config,
  syncId: string,
  onTick?: (s: SyncSnapshot, live: SyncLiveProgress) => void,
  pollMs = 200,
  opts: { live?: boolean } = {},
): Promise<SyncSnapshot> {
  const progress = new SyncProgress(conn, config.queuePrefix);
  const queue = onTick && opts.live ? new Queue<IngestJobData>(INGEST_QUEUE, { connection: conn, prefix: bullPrefix(config.queuePrefix) }) : undefined;
  try {
    for (;;) {
      const s = await progress.snapshot(syncId);
      if (!s) throw new Error(`sync ${syncId} not found in Redis`);
      if (onTick) onTick(s, await liveProgress(queue, s));
      if (SyncProgress.isFinished(s)) return s;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    await queue?.close();
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
