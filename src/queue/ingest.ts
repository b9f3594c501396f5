import { UnrecoverableError, type Job, type Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../config/env.js";
import { emptyExclusions, mergeExclusions, UserError, type BillableEvent, type Exclusions, type Quarantined } from "../model/index.js";
import { ExclusionCounter } from "../pipeline/exclusions.js";
import { mapInputs } from "../pipeline/map-inputs.js";
import type { Logger } from "../runtime/logger.js";
import type { BillingSink } from "../sinks/sink.js";
import { RedisContextStore } from "../sources/redis-context.js";
import type { ResumePoint } from "../sources/registry.js";
import type { DeliverJobData, IngestCheckpoint, IngestJobData } from "./jobs.js";
import { metricsOf } from "../mapping/index.js";
import { noMetrics, type IngestCounts, type PipelineMetrics } from "../ops/metrics.js";
import type { MappingCache } from "./mapping-cache.js";
import type { SyncProgress } from "./progress.js";

const QUARANTINE_SAMPLE = 200;
/** Deliver jobs added per Redis round trip; a checkpoint follows each flush. */
const JOBS_PER_FLUSH = 20;

export interface IngestDeps {
  mappings: MappingCache;
  config: Config;
  conn: Redis;
  progress: SyncProgress;
  logger: Logger;
  sinkFor(destination: string): { sink: BillingSink; queue: Queue<DeliverJobData> } | undefined;
  jobOptions: object;
  /** Per-stage counters (records read, quarantined, skipped, events mapped); none by default. */
  metrics?: PipelineMetrics;
}

/** Counters of items read since the last record whose events went into a batch (keyed by input index). */
interface Delta {
  records: Record<number, number>;
  events: Record<number, number>;
  quarantined: Record<number, number>;
  quarantine: Quarantined[];
  skipReasons: Record<string, number>;
  parked: number;
  exclusions: Exclusions;
}

function emptyDelta(): Delta {
  return { records: {}, events: {}, quarantined: {}, quarantine: [], skipReasons: {}, parked: 0, exclusions: emptyExclusions() };
}

function fold(state: IngestCheckpoint, d: Delta, inputs: string[]): void {
  const summary = (i: number) => (state.perInput[inputs[i] ?? "(released from parking)"] ??= { records: 0, quarantined: 0, events: 0 });
  for (const [i, n] of Object.entries(d.records)) summary(Number(i)).records += n;
  for (const [i, n] of Object.entries(d.events)) {
    summary(Number(i)).events += n;
    state.events += n;
  }
  for (const [i, n] of Object.entries(d.quarantined)) {
    summary(Number(i)).quarantined += n;
    state.quarantined += n;
  }
  for (const q of d.quarantine) if (state.quarantine.length < QUARANTINE_SAMPLE) state.quarantine.push(q);
  for (const [r, n] of Object.entries(d.skipReasons)) state.skipReasons[r] = (state.skipReasons[r] ?? 0) + n;
  state.parked += d.parked;
  mergeExclusions((state.exclusions ??= emptyExclusions()), d.exclusions);
}

/** A delta's totals, as the metrics take them. */
function countsOf(d: Delta): IngestCounts {
  const sum = (r: Record<number, number>) => Object.values(r).reduce((a, n) => a + n, 0);
  return { records: sum(d.records), quarantined: sum(d.quarantined), events: sum(d.events), parked: d.parked, skipped: d.skipReasons };
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
  const metrics = deps.metrics ?? noMetrics;
  return async function ingest(job: Job<IngestJobData>): Promise<{ events: number }> {
    const { syncId, destination, inputs, mappingPath } = job.data;
    const started = performance.now();
    const target = deps.sinkFor(destination);
    if (!target) {
      const msg = `this worker has no ${destination} destination configured`;
      await progress.fail(syncId, msg);
      throw new UnrecoverableError(msg);
    }
    const { sink, queue } = target;
    try {
      const loaded = await deps.mappings.load(mappingPath);
      const mappings = loaded.set;
      const warnings: string[] = [];
      if (loaded.rejected) {
        logger.error({ syncId, mappingPath }, loaded.rejected);
        warnings.push(loaded.rejected);
      }
      // Lago accepts events of an unknown metric code with 200 and never bills them: check first, send nothing then.
      const health = await sink.healthcheck(metricsOf(mappings).map((m) => m.metric), []);
      const blocking = health.issues.filter((i) => i.severity === "blocking");
      if (blocking.some((i) => i.kind === "unchecked")) throw new Error(`destination healthcheck could not run: ${blocking.map((i) => i.message).join("; ")}`);
      if (blocking.length) throw new UserError(`${destination} is not ready for these events, nothing was sent: ${blocking.map((i) => i.message).join("; ")}`);
      warnings.push(...health.warnings);
      if (warnings.length) await progress.warn(syncId, warnings.join("\n"));
      const store = new RedisContextStore(conn, { prefix: config.queuePrefix, ttlSeconds: config.contextTtlSeconds, parkSeconds: config.parkSeconds });
      const resumed = job.data.checkpoint;
      if (resumed) logger.info({ syncId, resume: resumed.resume, batchNo: resumed.batchNo }, "ingest resuming from checkpoint");
      // `state` covers every item up to state.resume, whose events are all in batches; `delta`
      // counts the items read since, so a checkpoint never claims more than was handed on.
      const state: IngestCheckpoint = structuredClone(resumed ?? freshCheckpoint());
      // Every input is listed, including context-only ones (Langfuse traces) that yield no records.
      for (const input of inputs) state.perInput[input] ??= { records: 0, quarantined: 0, events: 0 };
      let delta = emptyDelta();
      let cp: IngestCheckpoint = structuredClone(state);
      const size = sink.limits.maxBatchSize;
      let batch: BillableEvent[] = [];
      let group: BillableEvent[] = [];
      let groupAt: ResumePoint | undefined;
      let pending: { name: string; data: DeliverJobData; opts: object }[] = [];

      const cut = () => {
        if (!batch.length) return;
        // Deterministic job ids: a resumed or retried ingest re-adds the same batches, which BullMQ ignores.
        pending.push({ name: "deliver", data: { syncId, destination, batch: state.batchNo, events: batch }, opts: { ...deps.jobOptions, jobId: `${syncId}-${state.batchNo}` } });
        state.batchNo++;
        batch = [];
        cp = structuredClone(state);
      };
      const flushJobs = async () => {
        if (!pending.length) return;
        await queue.addBulk(pending);
        pending = [];
        await job.updateData({ ...job.data, checkpoint: cp });
      };
      /** Moves the finished record's events into the batch (cutting first if they would overflow it). */
      const endGroup = async () => {
        if (!group.length || !groupAt) return;
        if (batch.length + group.length > size) {
          cut();
          if (pending.length >= JOBS_PER_FLUSH) await flushJobs();
        }
        batch.push(...group);
        fold(state, delta, inputs);
        metrics.ingested(destination, countsOf(delta));
        delta = emptyDelta();
        excluded.target = delta.exclusions;
        state.resume = groupAt;
        group = [];
      };

      let counted: ResumePoint | undefined;
      const excluded = new ExclusionCounter(delta.exclusions, mappings);
      for await (const item of mapInputs(inputs, mappings, { store, resume: resumed?.resume, override: job.data.override })) {
        if (item.kind === "note") {
          // Idempotent (a set per input), so it can go straight into the committed state.
          const s = (state.perInput[item.input] ??= { records: 0, quarantined: 0, events: 0 });
          if (!(s.notes ??= []).includes(item.note)) s.notes.push(item.note);
          continue;
        }
        if (item.at && (item.at.input !== groupAt?.input || item.at.item !== groupAt?.item)) {
          // The previous record is complete: count it in the delta its group folds.
          excluded.flush();
          await endGroup();
          groupAt = item.at;
        }
        excluded.push(item);
        if (item.at && item.kind !== "quarantine" && (item.at.input !== counted?.input || item.at.item !== counted?.item)) {
          counted = item.at;
          delta.records[item.at.input] = (delta.records[item.at.input] ?? 0) + 1;
        }
        if (item.kind === "event") {
          group.push(item.event);
          if (item.at) delta.events[item.at.input] = (delta.events[item.at.input] ?? 0) + 1;
          else delta.events[-1] = (delta.events[-1] ?? 0) + 1;
        } else if (item.kind === "skip") {
          delta.skipReasons[item.skip.reason] = (delta.skipReasons[item.skip.reason] ?? 0) + 1;
        } else if (item.kind === "parked") {
          delta.parked++;
        } else {
          if (item.at) delta.quarantined[item.at.input] = (delta.quarantined[item.at.input] ?? 0) + 1;
          if (delta.quarantine.length < QUARANTINE_SAMPLE) delta.quarantine.push(item.entry);
          logger.warn({ syncId, ...item.entry }, "record quarantined");
        }
      }
      excluded.flush();
      await endGroup();
      fold(state, delta, inputs);
      metrics.ingested(destination, countsOf(delta));
      cut();
      await flushJobs();
      // Only now that their events are in deliver jobs may released records leave the parking.
      await store.commitReleased();
      await progress.finishIngest(syncId, state);
      logger.info({ syncId, destination, events: state.events, batches: state.batchNo, quarantined: state.quarantined, parked: state.parked }, "ingest finished");
      metrics.ingestDone(destination, (performance.now() - started) / 1000, "ok");
      return { events: state.events };
    } catch (e) {
      metrics.ingestDone(destination, (performance.now() - started) / 1000, "error");
      if (e instanceof UserError) {
        await progress.fail(syncId, e.message);
        throw new UnrecoverableError(e.message);
      }
      throw e;
    }
  };
}
