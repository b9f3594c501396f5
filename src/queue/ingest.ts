import { UnrecoverableError, type Job, type Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../config/env.js";
import { loadMappingSet } from "../mapping/index.js";
import { UserError, type BillableEvent } from "../model/index.js";
import { mapInputs } from "../pipeline/map-inputs.js";
import type { Logger } from "../runtime/logger.js";
import type { BillingSink } from "../sinks/sink.js";
import { RedisContextStore } from "../sources/redis-context.js";
import type { ResumePoint } from "../sources/registry.js";
import type { DeliverJobData, IngestCheckpoint, IngestJobData } from "./jobs.js";
import type { SyncProgress } from "./progress.js";

const QUARANTINE_SAMPLE = 200;
/** Deliver jobs added per Redis round trip; a checkpoint follows each flush. */
const JOBS_PER_FLUSH = 20;

export interface IngestDeps {
  config: Config;
  conn: Redis;
  progress: SyncProgress;
  logger: Logger;
  sinkFor(destination: string): { sink: BillingSink; queue: Queue<DeliverJobData> } | undefined;
  jobOptions: object;
}

function freshCheckpoint(): IngestCheckpoint {
  return { resume: { input: 0, item: 0 }, batchNo: 0, events: 0, skipReasons: {}, quarantined: 0, quarantine: [], parked: 0, perInput: {} };
}

/**
 * Streams a sync's inputs through the mapping into deliver jobs of full destination batches.
 * Batches are cut only between records, and after every flush of deliver jobs the job's data
 * records where it got to: a killed worker's job resumes there (deterministic batch numbers make
 * re-added batches no-ops), never from the start.
 */
export function ingestProcessor(deps: IngestDeps) {
  const { config, conn, progress, logger } = deps;
  return async function ingest(job: Job<IngestJobData>): Promise<{ events: number }> {
    const { syncId, destination, inputs, mappingPath } = job.data;
    const target = deps.sinkFor(destination);
    if (!target) {
      const msg = `this worker has no ${destination} destination configured`;
      await progress.fail(syncId, msg);
      throw new UnrecoverableError(msg);
    }
    const { sink, queue } = target;
    try {
      const mappings = await loadMappingSet(mappingPath);
      const store = new RedisContextStore(conn, { prefix: config.queuePrefix, ttlSeconds: config.contextTtlSeconds, parkSeconds: config.parkSeconds });
      const resumed = job.data.checkpoint;
      if (resumed) logger.info({ syncId, resume: resumed.resume, batchNo: resumed.batchNo }, "ingest resuming from checkpoint");
      // `state` is what has been handed on; `cp` is the state at the last batch cut (what a checkpoint may claim).
      const state: IngestCheckpoint = structuredClone(resumed ?? freshCheckpoint());
      let cp: IngestCheckpoint = structuredClone(state);
      const size = sink.limits.maxBatchSize;
      let batch: BillableEvent[] = [];
      let group: BillableEvent[] = [];
      let groupAt: ResumePoint | undefined;
      let pending: { name: string; data: DeliverJobData; opts: object }[] = [];

      const inputSummary = (i: number) => (state.perInput[inputs[i]!] ??= { records: 0, quarantined: 0, events: 0 });
      const cut = () => {
        if (batch.length) {
          // Deterministic job ids: a resumed or retried ingest re-adds the same batches, which BullMQ ignores.
          pending.push({ name: "deliver", data: { syncId, destination, batch: state.batchNo, events: batch }, opts: { ...deps.jobOptions, jobId: `${syncId}-${state.batchNo}` } });
          state.batchNo++;
          batch = [];
        }
        if (groupAt) state.resume = groupAt;
        cp = structuredClone(state);
      };
      const flushJobs = async () => {
        if (!pending.length) return;
        await queue.addBulk(pending);
        pending = [];
        await job.updateData({ ...job.data, checkpoint: cp });
      };
      const endGroup = async () => {
        if (!group.length) return;
        if (batch.length + group.length > size) {
          cut();
          if (pending.length >= JOBS_PER_FLUSH) await flushJobs();
        }
        batch.push(...group);
        group = [];
      };

      for await (const item of mapInputs(inputs, mappings, { store, resume: resumed?.resume })) {
        if (item.at && (item.at.input !== groupAt?.input || item.at.item !== groupAt?.item)) {
          await endGroup();
          groupAt = item.at;
          if (item.kind !== "quarantine") inputSummary(item.at.input).records++;
        }
        if (item.kind === "event") {
          group.push(item.event);
          state.events++;
          if (item.at) inputSummary(item.at.input).events++;
        } else if (item.kind === "skip") {
          state.skipReasons[item.skip.reason] = (state.skipReasons[item.skip.reason] ?? 0) + 1;
        } else if (item.kind === "parked") {
          state.parked++;
        } else {
          state.quarantined++;
          if (item.at) inputSummary(item.at.input).quarantined++;
          if (state.quarantine.length < QUARANTINE_SAMPLE) state.quarantine.push(item.entry);
          logger.warn({ syncId, ...item.entry }, "record quarantined");
        }
      }
      await endGroup();
      cut();
      await flushJobs();
      await progress.finishIngest(syncId, state);
      logger.info({ syncId, destination, events: state.events, batches: state.batchNo, quarantined: state.quarantined, parked: state.parked }, "ingest finished");
      return { events: state.events };
    } catch (e) {
      if (e instanceof UserError) {
        await progress.fail(syncId, e.message);
        throw new UnrecoverableError(e.message);
      }
      throw e;
    }
  };
}
