/**
 * @module What the pipeline tells Prometheus. `PipelineMetrics` is the small interface the queue
 * code calls at each stage; `noMetrics` (the default) does nothing, so code and tests that do not
 * care pass nothing. `createMetrics()` backs it with a prom-client Registry of its own (never the
 * global one), so several workers — in tests, several in one process — each expose their own.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { ROW_STATUSES } from "../reconcile/reconcile.js";

/** A queue whose job counts are read on each scrape (a BullMQ Queue fits). */
export interface CountableQueue {
  readonly name: string;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

/** What an ingest job committed to delivery batches since it last reported. */
export interface IngestCounts {
  records: number;
  quarantined: number;
  events: number;
  /** Records held back until their trace context arrives. */
  parked: number;
  /** Skipped records by skip reason (the full text; the metric keeps a bounded label of it). */
  skipped: Record<string, number>;
}

/** What one delivery attempt of a batch did, by event. */
export interface DeliveryCounts {
  /** Events handed to the destination in a request. */
  sent?: number;
  /** Events the destination accepted now. */
  delivered?: number;
  /** Events not sent because the ledger holds them as delivered (an earlier sync, a twin in the export). */
  alreadyInLedger?: number;
  /** Events the destination reported as already held (Lago value_already_exist, OpenMeter found by id). */
  alreadyAtDestination?: number;
  /** Events left for a later attempt (5xx, 429, network). */
  retried?: number;
  /** Events given up on: refused by the destination, or out of attempts. */
  deadLettered?: number;
}

export interface PipelineMetrics {
  ingested(destination: string, counts: IngestCounts): void;
  /** One whole ingest job run (seconds), by how it ended. */
  ingestDone(destination: string, seconds: number, result: "ok" | "error"): void;
  delivery(destination: string, counts: DeliveryCounts): void;
  /** Times one `sink.send` (the destination's latency as the worker sees it, re-send rounds included). */
  timeSend<T>(destination: string, send: () => Promise<T>): Promise<T>;
  /** A reconciliation's rows by status (matched included) and whether the report is ok (only matched or pending rows), or its failure (null). */
  reconciled(destination: string, result: { rows: Record<string, number>; ok: boolean } | null): void;
  /** Queues whose depths are read on each scrape; returns a function that stops reading them. */
  watchQueues(queues: readonly CountableQueue[]): () => void;
}

/** Does nothing: the default wherever no metrics object is passed. */
export const noMetrics: PipelineMetrics = {
  ingested: () => undefined,
  ingestDone: () => undefined,
  delivery: () => undefined,
  timeSend: (_d, send) => send(),
  reconciled: () => undefined,
  watchQueues: () => () => undefined,
};

/** Row statuses a reconciliation can report besides "matched" (reconcile/reconcile.ts's RowStatus). */
export const MISMATCH_STATUSES = ROW_STATUSES.filter((s) => s !== "matched");

/** BullMQ job states exported as queue depth. */
export const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "waiting-children", "failed", "paused"] as const;

/**
 * A bounded label for a skip reason. Reasons of named rules start with `<mapping>/<rule>:` (the
 * rule is the label); the others (`<mapping>: no customer: …`, `<mapping>: usage time '…' is not
 * a date`) keep the mapping and the kind of problem, cut before any quoted value or number, so a
 * record's own values never become label values.
 */
export function skipReasonLabel(reason: string): string {
  const named = /^([^\s:]+\/[^\s:]+):/.exec(reason);
  if (named) return named[1]!;
  const at = reason.indexOf(": ");
  if (at < 0) return clipLabel(reason.split(/[:'"`0-9]/)[0]!.trim() || "other");
  const head = reason.slice(0, at);
  const kind = reason.slice(at + 2).split(/[:'"`0-9,(]/)[0]!.trim();
  return clipLabel(kind ? `${head}: ${kind}` : head);
}

const clipLabel = (s: string) => (s.length > 80 ? s.slice(0, 80) : s);

export interface Metrics extends PipelineMetrics {
  readonly registry: Registry;
  /** The Prometheus text exposition of everything in the registry. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

/** A PipelineMetrics backed by prom-client, on a registry of its own, with Node's process metrics. */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = (name: string, help: string, labelNames: string[] = ["destination"]) => new Counter({ name, help, labelNames, registers });

  const recordsRead = counter("tracebill_records_read_total", "Source records read by ingest (quarantined ones not included)");
  const quarantined = counter("tracebill_records_quarantined_total", "Malformed source records set aside with a reason");
  const skipped = counter("tracebill_records_skipped_total", "Records the mapping policy does not bill, by rule", ["destination", "reason"]);
  const parked = counter("tracebill_records_waiting_total", "Records held back until their trace context (and customer) arrives");
  const mapped = counter("tracebill_events_mapped_total", "Billable events produced by the mapping and put into delivery batches");
  const sent = counter("tracebill_events_sent_total", "Events sent to the destination (re-sends of a retried batch included)");
  const delivered = counter("tracebill_events_delivered_total", "Events the destination accepted and the ledger recorded");
  const duplicates = counter(
    "tracebill_events_duplicate_total",
    "Events not billed twice: already in the ledger (found_by=ledger) or already held by the destination (found_by=destination)",
    ["destination", "found_by"],
  );
  const retried = counter("tracebill_events_retried_total", "Events left for a later attempt after a transient failure");
  const dead = counter("tracebill_events_dead_lettered_total", "Events moved to the dead-letter list (refused, or out of attempts)");
  const ingestSeconds = new Histogram({
    name: "tracebill_ingest_duration_seconds", help: "One ingest job run, read to last batch enqueued", labelNames: ["destination", "result"], registers,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  });
  const sendSeconds = new Histogram({
    name: "tracebill_destination_send_seconds", help: "Latency of one batch send to the destination", labelNames: ["destination", "result"], registers,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const mismatches = new Gauge({
    name: "tracebill_reconcile_mismatched_rows", help: "Rows of the last scheduled reconciliation that did not match, by status", labelNames: ["destination", "status"], registers,
  });
  const reconcileRuns = counter("tracebill_reconcile_runs_total", "Scheduled reconciliations, by result: match (only matched or pending rows), differences, error", ["destination", "result"]);
  const reconcileLast = new Gauge({
    name: "tracebill_reconcile_last_run_timestamp_seconds", help: "When the last scheduled reconciliation finished (Unix time)", labelNames: ["destination"], registers,
  });

  const watched = new Set<readonly CountableQueue[]>();
  new Gauge({
    name: "tracebill_queue_jobs", help: "Jobs in each BullMQ queue by state, read on scrape", labelNames: ["queue", "state"], registers,
    async collect() {
      this.reset();
      for (const list of watched) {
        for (const q of list) {
          try {
            const counts = await q.getJobCounts(...QUEUE_STATES);
            for (const state of QUEUE_STATES) this.set({ queue: q.name, state }, counts[state] ?? 0);
          } catch {
            // A closed queue or Redis away: its depth is simply absent from this scrape (/readyz says why).
          }
        }
      }
    },
  });

  const add = (c: Counter, labels: Record<string, string>, n: number | undefined) => {
    if (n) c.inc(labels, n);
  };

  return {
    registry,
    ingested(destination, c) {
      const l = { destination };
      add(recordsRead, l, c.records);
      add(quarantined, l, c.quarantined);
      add(mapped, l, c.events);
      add(parked, l, c.parked);
      for (const [reason, n] of Object.entries(c.skipped)) add(skipped, { destination, reason: skipReasonLabel(reason) }, n);
    },
    ingestDone(destination, seconds, result) {
      ingestSeconds.observe({ destination, result }, seconds);
    },
    delivery(destination, c) {
      const l = { destination };
      add(sent, l, c.sent);
      add(delivered, l, c.delivered);
      add(duplicates, { destination, found_by: "ledger" }, c.alreadyInLedger);
      add(duplicates, { destination, found_by: "destination" }, c.alreadyAtDestination);
      add(retried, l, c.retried);
      add(dead, l, c.deadLettered);
    },
    async timeSend(destination, send) {
      const end = sendSeconds.startTimer({ destination });
      try {
        const out = await send();
        end({ result: "ok" });
        return out;
      } catch (e) {
        end({ result: "error" });
        throw e;
      }
    },
    reconciled(destination, result) {
      reconcileLast.set({ destination }, Date.now() / 1000);
      if (!result) {
        reconcileRuns.inc({ destination, result: "error" });
        return;
      }
      for (const status of MISMATCH_STATUSES) mismatches.set({ destination, status }, result.rows[status] ?? 0);
      reconcileRuns.inc({ destination, result: result.ok ? "match" : "differences" });
    },
    watchQueues(queues) {
      watched.add(queues);
      return () => void watched.delete(queues);
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
