import { join } from "node:path";
import { loadMappingSet, metricsOf } from "../../mapping/index.js";
import { UserError } from "../../model/index.js";
import { runReconcile, writeReport } from "../../reconcile/run.js";
import { baseContext, connectRedis, ledgerFor, parseDestination, recentSyncs, sinkFor } from "../context.js";

export interface ReconcileOptions {
  destination: string;
  from: string;
  to: string;
  out?: string;
  mapping?: string;
}

export function parseInstant(name: string, v: string): Date {
  const d = new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime())) throw new UserError(`${name} must be an ISO-8601 date or time (got "${v}")`);
  return d;
}

/** exit 0 = everything matches, 1 = something differs, 2 = error (thrown). */
export async function reconcileCommand(opts: ReconcileOptions): Promise<number> {
  const { config } = baseContext();
  const destination = parseDestination(opts.destination);
  const from = parseInstant("--from", opts.from);
  const to = parseInstant("--to", opts.to);
  if (to <= from) throw new UserError("--to must be after --from");
  const sink = sinkFor(config, destination);
  const mappings = await loadMappingSet(opts.mapping ?? config.mappingsDir);
  const redis = await connectRedis(config);
  try {
    const syncs = await recentSyncs(redis, config, destination);
    const report = await runReconcile({ destination, from, to, ledger: ledgerFor(redis, config), sink, metrics: metricsOf(mappings), syncs });
    const dir = opts.out ?? join(config.reportsDir, `${destination}-${report.generatedAt.replace(/[:.]/g, "-")}`);
    const paths = await writeReport(report, dir);
    const s = report.summary;
    console.log(`${report.ok ? "MATCH" : "DIFFERENCES"}: ${s.matched}/${s.rows} rows matched, ${s.missing} missing, ${s.excess} excess; ${report.deadLetters.count} dead-lettered`);
    console.log(`report: ${paths.markdown}\n        ${paths.json}`);
    return report.ok ? 0 : 1;
  } finally {
    await redis.quit();
  }
}
