import { mkdir, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../config/env.js";
import type { Ledger } from "../ledger/ledger.js";
import { loadMappingSet, metricsOf } from "../mapping/index.js";
import type { Destination } from "../model/index.js";
import { noMetrics, type PipelineMetrics } from "../ops/metrics.js";
import { runReconcile, writeReport } from "../reconcile/run.js";
import type { Logger } from "../runtime/logger.js";
import type { BillingSink } from "../sinks/sink.js";
import { recordReconcileRun } from "./activity.js";
import { bullPrefix } from "./jobs.js";
import { SyncProgress } from "./progress.js";

export const RECONCILE_QUEUE = "reconcile";

export interface ReconcileSchedule {
  /** Cron pattern (e.g. "0 6 * * *") or a period in ms (tests). */
  pattern?: string;
  everyMs?: number;
  /** Whole UTC days before today to compare (today included). */
  days: number;
}

export interface ScheduledReconcile {
  close(): Promise<void>;
}

/**
 * Reconciles every configured destination on a schedule and keeps the reports under
 * TRACEBILL_REPORTS_DIR/scheduled/<destination>/<time>/, each directory complete when it appears. BullMQ's job scheduler makes one run per
 * tick however many workers there are.
 */
export async function startScheduledReconcile(deps: {
  config: Config;
  connection: () => Redis;
  sinks: Partial<Record<Destination, BillingSink>>;
  ledger: Ledger;
  logger: Logger;
  schedule: ReconcileSchedule;
  now?: () => Date;
  /** Rows not matched by status, and runs by result, per destination; none by default. */
  metrics?: PipelineMetrics;
}): Promise<ScheduledReconcile> {
  const { config, sinks, ledger, logger, schedule } = deps;
  const metrics = deps.metrics ?? noMetrics;
  const prefix = bullPrefix(config.queuePrefix);
  // BullMQ does not close connections it is handed.
  const connections = [deps.connection(), deps.connection()];
  const queue = new Queue(RECONCILE_QUEUE, { connection: connections[0]!, prefix });
  const destinations = Object.keys(sinks) as Destination[];
  for (const d of destinations) {
    await queue.upsertJobScheduler(
      `reconcile-${d}`,
      schedule.everyMs ? { every: schedule.everyMs } : { pattern: schedule.pattern! },
      { name: "reconcile", data: { destination: d } },
    );
  }
  const worker = new Worker<{ destination: Destination }>(
    RECONCILE_QUEUE,
    async (job) => {
      const d = job.data.destination;
      const sink = sinks[d];
      if (!sink) return;
      const now = deps.now?.() ?? new Date();
      const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
      const from = new Date(to.getTime() - schedule.days * 86_400_000);
      const mappings = await loadMappingSet(config.mappingsDir);
      // The week's syncs: their inputs and what they did not bill (cache savings, failures…) go in the report.
      const syncs = await new SyncProgress(connections[0]!, config.queuePrefix).summaries(d, new Date(now.getTime() - 7 * 86_400_000));
      const report = await runReconcile({ destination: d, from, to, ledger, sink, metrics: metricsOf(mappings), syncs });
      const rows: Record<string, number> = {};
      for (const r of report.rows) rows[r.status] = (rows[r.status] ?? 0) + 1;
      metrics.reconciled(d, { rows, ok: report.ok });
      const stamp = report.generatedAt.replace(/[:.]/g, "-");
      const dir = join(config.reportsDir, "scheduled", d, stamp);
      // Written aside, then renamed into place: whoever watches the folder never sees half a report.
      const staging = join(config.reportsDir, "scheduled", ".partial", `${d}-${stamp}`);
      await writeReport(report, staging);
      await mkdir(dirname(dir), { recursive: true });
      await rename(staging, dir);
      const s = report.summary;
      const log = report.ok ? logger.info.bind(logger) : logger.warn.bind(logger);
      log({ destination: d, dir, matched: s.matched, rows: s.rows, missing: s.missing, excess: s.excess }, report.ok ? "scheduled reconciliation: everything matches" : "scheduled reconciliation: differences");
      // The last run per destination, for `tracebill status`.
      await recordReconcileRun(connections[0]!, config.queuePrefix, { destination: d, at: new Date().toISOString(), ok: report.ok, dir, rows: s.rows, matched: s.matched, missing: s.missing, excess: s.excess });
    },
    { connection: connections[1]!, prefix, concurrency: 1 },
  );
  worker.on("failed", (job, err) => {
    if (!job) return;
    metrics.reconciled(job.data.destination, null);
    void recordReconcileRun(connections[0]!, config.queuePrefix, { destination: job.data.destination, at: new Date().toISOString(), ok: false, error: err.message }).catch(() => undefined);
  });
  return {
    close: async () => {
      await worker.close();
      await queue.close();
      await Promise.all(connections.map((c) => c.quit().catch(() => undefined)));
    },
  };
}
