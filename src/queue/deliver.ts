import { DelayedError, UnrecoverableError, Worker, type Job } from "bullmq";
import type { Config } from "../config/env.js";
import type { Ledger } from "../ledger/ledger.js";
import type { BillableEvent, Destination } from "../model/index.js";
import { noMetrics, type PipelineMetrics } from "../ops/metrics.js";
import type { Logger } from "../runtime/logger.js";
import type { BillingSink, RetryScope } from "../sinks/sink.js";
import type { DeliverJobData } from "./jobs.js";
import type { SettleStatus, SyncProgress } from "./progress.js";

/** A transient delivery failure; carries the destination's "retry after" hint into the backoff. */
export class RetryLaterError extends Error {
  override name = "RetryLaterError";
  constructor(message: string, readonly afterMs?: number) {
    super(message);
  }
}

export interface DeliverDeps {
  config: Config;
  ledger: Ledger;
  progress: SyncProgress;
  logger: Logger;
  sinks: Partial<Record<Destination, BillingSink>>;
  /**
   * Stops every worker's processing of `destination`'s delivery queue for `ms` (BullMQ
   * Queue.rateLimit on deliver-<destination>). Without it, destination-wide failures are retried
   * like any other (each job spends attempts).
   */
  pauseDestination?: (destination: Destination, ms: number) => Promise<void>;
  /** Per-stage counters (sent, delivered, duplicates, retried, dead-lettered) and send latency; none by default. */
  metrics?: PipelineMetrics;
}

/** Longest pause between two probes of a destination that is down. */
const MAX_OUTAGE_PAUSE_MS = 60_000;

/**
 * How long a claim on an event lasts: longer than one send with its re-send rounds, and long
 * enough that a dead worker's batch is re-run (after one job lock) before its claims free up.
 */
export function claimLeaseMs(config: Config): number {
  return Math.max(2 * config.jobLockMs, 4 * config.httpTimeoutMs);
}

/**
 * One destination batch: dedupe (ledger) → claim → send → record → settle → ack. Each
 * occurrence of an event in the sync settles once (batch:index), whatever the retries.
 */
export function deliverProcessor(deps: DeliverDeps) {
  const { ledger, progress, logger } = deps;
  const metrics = deps.metrics ?? noMetrics;
  /** Destinations this process saw failing as a whole, and how long the next pause lasts. */
  const outages = new Map<Destination, { since: number; pauseMs: number }>();
  /** Pauses the destination's queue; the job goes back to waiting without spending an attempt. */
  const pause = async (destination: Destination, ms: number): Promise<never> => {
    await deps.pauseDestination!(destination, ms);
    throw Worker.RateLimitError();
  };

  return async function deliver(job: Job<DeliverJobData>, token?: string): Promise<void> {
    const { syncId, destination, events, batch } = job.data;
    const sink = deps.sinks[destination];
    if (!sink) throw new UnrecoverableError(`this worker has no ${destination} destination configured`);
    const outage = outages.get(destination);
    if (outage && deps.pauseDestination) {
      // While the destination is down, one cheap GET decides, before any claim or send.
      if (!(await sink.probe())) {
        outage.pauseMs = Math.min(outage.pauseMs * 2, MAX_OUTAGE_PAUSE_MS);
        logger.warn({ destination, downForMs: Date.now() - outage.since, pauseMs: outage.pauseMs }, "destination still unavailable; delivery paused");
        return pause(destination, outage.pauseMs);
      }
      outages.delete(destination);
      logger.info({ destination, downForMs: Date.now() - outage.since }, "destination answers again; delivery resumed");
    }
    const settle = (idx: number[], status: SettleStatus) => progress.settle(syncId, destination, batch, idx, status);

    // Occurrences by event id: an export can hold the same call twice; it is sent once.
    const byId = new Map<string, number[]>();
    events.forEach((e, i) => byId.set(e.id, [...(byId.get(e.id) ?? []), i]));
    const ids = [...byId.keys()];
    const undelivered = new Set(await ledger.filterUndelivered(destination, ids));
    const held = await settle(ids.filter((id) => !undelivered.has(id)).flatMap((id) => byId.get(id)!), "already");
    // Newly settled only: a re-run of this batch finds what its own earlier attempt delivered.
    metrics.delivery(destination, { alreadyInLedger: held });
    if (!undelivered.size) return;

    const owner = `${job.id}:${job.attemptsMade}`;
    const lease = claimLeaseMs(deps.config);
    const claimed = new Set(await ledger.claim(destination, [...undelivered], owner, lease));
    const busy = [...undelivered].filter((id) => !claimed.has(id));
    const toSend: BillableEvent[] = [...claimed].map((id) => events[byId.get(id)![0]!]!);

    const delivered: BillableEvent[] = [];
    const duplicates: BillableEvent[] = [];
    const dead: { event: BillableEvent; reason: string }[] = [];
    const retry: { event: BillableEvent; reason: string; afterMs?: number; scope: RetryScope }[] = [];
    try {
      // A re-run (retry, or a dead worker's job run again) may re-send what reached the destination unrecorded.
      const outcomes = toSend.length ? await metrics.timeSend(destination, () => sink.send(toSend, { maybeSent: job.attemptsStarted > 1 })) : [];
      toSend.forEach((event, i) => {
        const o = outcomes[i] ?? { status: "retry" as const, reason: "destination returned no outcome for this event" };
        if (o.status === "delivered") delivered.push(event);
        else if (o.status === "duplicate") duplicates.push(event);
        else if (o.status === "rejected") dead.push({ event, reason: o.reason });
        else retry.push({ event, reason: o.reason, afterMs: o.afterMs, scope: "scope" in o && o.scope ? o.scope : "event" });
      });
      await ledger.recordDelivered(destination, [...delivered, ...duplicates]);
      metrics.delivery(destination, { sent: toSend.length, delivered: delivered.length, alreadyAtDestination: duplicates.length });
    } finally {
      await ledger.release(destination, [...claimed], owner);
    }
    const occurrences = (list: BillableEvent[]) => list.flatMap((e) => byId.get(e.id)!);
    // The first occurrence of a delivered event is "delivered"; its twins were "already" billed by it.
    await settle(delivered.map((e) => byId.get(e.id)![0]!), "delivered");
    const twins = await settle(delivered.flatMap((e) => byId.get(e.id)!.slice(1)), "already");
    metrics.delivery(destination, { alreadyInLedger: twins });
    await settle(occurrences(duplicates), "already");

    // The destination as a whole failed: pause its queue instead of spending this job's attempts.
    const down = deps.pauseDestination ? retry.find((r) => r.scope === "destination") : undefined;
    const lastAttempt = !down && job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (retry.length && lastAttempt) {
      for (const r of retry) dead.push({ event: r.event, reason: `gave up after ${job.attemptsMade + 1} attempts: ${r.reason}` });
    }
    if (dead.length) {
      const at = new Date().toISOString();
      await ledger.deadLetter(destination, dead.map((d) => ({ ...d, at, attempts: job.attemptsMade + 1 })));
      // Newly settled only: a retried batch can refuse the same events again.
      metrics.delivery(destination, { deadLettered: await settle(occurrences(dead.map((d) => d.event)), "dead") });
      logger.warn({ syncId, destination, count: dead.length, reasons: [...new Set(dead.map((d) => d.reason))].slice(0, 5) }, "events dead-lettered");
    }
    // Left for later: a retry of the batch, or the queue's pause while the destination is down.
    if (retry.length && (down || !lastAttempt)) metrics.delivery(destination, { retried: retry.length });
    if (down) {
      const pauseMs = Math.min(Math.max(down.afterMs ?? 0, deps.config.backoffMs), MAX_OUTAGE_PAUSE_MS);
      if (!outages.has(destination)) outages.set(destination, { since: Date.now(), pauseMs });
      logger.warn({ syncId, destination, pending: retry.length, reason: down.reason, pauseMs }, "destination unavailable; delivery paused");
      return pause(destination, pauseMs);
    }
    if (retry.length && !lastAttempt) {
      const afterMs = Math.max(0, ...retry.map((r) => r.afterMs ?? 0)) || undefined;
      logger.info({ syncId, destination, pending: retry.length, attempt: job.attemptsMade + 1, reason: retry[0]!.reason }, "delivery will be retried");
      throw new RetryLaterError(`${retry.length} events not yet accepted: ${retry[0]!.reason}`, afterMs);
    }
    if (busy.length) {
      // Another job holds these events (a dead worker's claim runs out with its lease): look
      // again later without spending an attempt, since nothing failed.
      logger.info({ syncId, destination, busy: busy.length }, "events claimed by another job; batch delayed");
      await job.moveToDelayed(Date.now() + lease / 4, token);
      throw new DelayedError();
    }
  };
}
