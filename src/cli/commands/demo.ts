import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, type Config } from "../../config/env.js";
import { RedisLedger } from "../../ledger/redis-ledger.js";
import { loadMappingSet, metricsOf } from "../../mapping/index.js";
import { DESTINATIONS, type Destination } from "../../model/index.js";
import { table } from "../table.js";
import { mapInputs } from "../../pipeline/map-inputs.js";
import { enqueueSync, waitForSync } from "../../queue/enqueue.js";
import { startWorker } from "../../queue/worker.js";
import { runReconcile, writeReport } from "../../reconcile/run.js";
import type { Report } from "../../reconcile/reconcile.js";
import { createLogger } from "../../runtime/logger.js";
import { packageRoot } from "../../runtime/paths.js";
import { startRedisServer, type RedisProcess } from "../../runtime/redis-server.js";
import { demoSeed, startSandbox } from "../../sandbox/index.js";
import { createSink } from "../../sinks/registry.js";
import { connectRedis, recentSyncs } from "../context.js";
import { formatSnapshot } from "./sync.js";

export function exampleInputs(root = packageRoot()): string[] {
  const out: string[] = [];
  for (const platform of ["langsmith", "langfuse"]) {
    const dir = join(root, "examples", platform);
    for (const f of readdirSync(dir).sort()) if (/\.(jsonl?|json)$/.test(f)) out.push(join(dir, f));
  }
  return out;
}

/**
 * The whole pipeline on embedded defaults: a private redis-server (unless REDIS_URL is set),
 * the local sandbox, an in-process worker; syncs the bundled examples to both destinations,
 * reconciles, prints a per-tenant summary.
 */
export async function demoCommand(): Promise<number> {
  const root = packageRoot();
  // Quarantine and dead letters are already in the printed summaries; logs would only repeat them.
  const env = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "error" };
  const base = loadConfig(env);
  const mappingPath = process.env.MAPPINGS_DIR ? base.mappingsDir : join(root, "mappings");
  const inputs = exampleInputs(root);
  const mappings = await loadMappingSet(mappingPath);

  // Preview first: which tenants the sandbox must know, and the usage window to reconcile.
  const customers = new Set<string>();
  const byType = new Map<string, { input: number; output: number }>();
  let minT = Infinity;
  let maxT = -Infinity;
  for await (const item of mapInputs(inputs, mappings)) {
    if (item.kind !== "event") continue;
    customers.add(item.event.customer);
    const split = byType.get(item.event.customer) ?? { input: 0, output: 0 };
    if (item.event.properties.type === "input") split.input += item.event.value;
    else if (item.event.properties.type === "output") split.output += item.event.value;
    byType.set(item.event.customer, split);
    const t = Date.parse(item.event.timestamp);
    minT = Math.min(minT, t);
    maxT = Math.max(maxT, t);
  }

  let redisProc: RedisProcess | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    if (!process.env.REDIS_URL) {
      redisProc = await startRedisServer();
      cleanups.push(() => redisProc!.stop());
      console.log(`started redis-server at ${redisProc.url}`);
    }
    const keys = { lago: `demo-lago-${randomBytes(6).toString("hex")}`, openmeter: `demo-om-${randomBytes(6).toString("hex")}` };
    const sandbox = await startSandbox({ port: 0, lagoApiKey: keys.lago, openmeterApiKey: keys.openmeter, seed: demoSeed([...customers], metricsOf(mappings)) });
    cleanups.unshift(() => sandbox.stop());
    console.log(`started sandbox at ${sandbox.url} (Lago API ${sandbox.lagoApiUrl}, OpenMeter ${sandbox.openmeterUrl})`);

    const config: Config = {
      ...base,
      redisUrl: redisProc?.url ?? base.redisUrl,
      // A fresh prefix keeps the demo's queues and ledger apart from anything else on that Redis.
      queuePrefix: `tracebill-demo-${randomBytes(4).toString("hex")}`,
      lago: { apiUrl: sandbox.lagoApiUrl, apiKey: keys.lago },
      openmeter: { url: sandbox.openmeterUrl, apiKey: keys.openmeter },
      backoffMs: 200,
    };
    const sinks = {
      lago: createSink("lago", { url: sandbox.lagoApiUrl, apiKey: keys.lago, timeoutMs: config.httpTimeoutMs }),
      openmeter: createSink("openmeter", { url: sandbox.openmeterUrl, apiKey: keys.openmeter, timeoutMs: config.httpTimeoutMs }),
    };
    const redis = await connectRedis(config);
    cleanups.unshift(() => redis.quit());
    const ledger = new RedisLedger(redis, { prefix: config.queuePrefix, ttlSeconds: config.ledgerTtlSeconds });
    const worker = await startWorker({ config, sinks, ledger, logger: createLogger(config.logLevel) });
    cleanups.unshift(() => worker.close());

    const reports: Partial<Record<Destination, { report: Report; path: string }>> = {};
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    for (const d of DESTINATIONS) {
      const syncId = await enqueueSync(redis, config, { destination: d, inputs, mappingPath });
      const snap = await waitForSync(redis, config, syncId);
      console.log(formatSnapshot(snap));
      const syncs = await recentSyncs(redis, config, d);
      const report = await runReconcile({ destination: d, from: new Date(minT), to: new Date(maxT + 1), ledger, sink: sinks[d], metrics: metricsOf(mappings), syncs });
      const paths = await writeReport(report, join(base.reportsDir, `demo-${stamp}`, d));
      reports[d] = { report, path: paths.markdown };
    }

    const n = (v: number | undefined) => (v ?? 0).toLocaleString("en-US");
    const t = table(["Tenant", "Input tokens", "Output tokens", "Sent", "Lago holds", "OpenMeter holds", "Reconciled"], ["left", "right", "right", "right", "right", "right", "left"]);
    for (const c of [...customers].sort()) {
      const l = reports.lago?.report.customers.find((x) => x.customer === c);
      const o = reports.openmeter?.report.customers.find((x) => x.customer === c);
      const ok = l?.status === "matched" && o?.status === "matched";
      t.push([c, n(byType.get(c)?.input), n(byType.get(c)?.output), n(l?.sent), n(l?.held), n(o?.held), ok ? "✓ matched" : "✗ differs"]);
    }
    console.log(`\nPer-tenant llm_tokens billed (input = uncached + cache writes; output incl. reasoning):\n${t.toString()}`);
    const allOk = DESTINATIONS.every((d) => reports[d]?.report.ok);
    for (const d of DESTINATIONS) console.log(`${d} reconciliation: ${reports[d]?.report.ok ? "MATCH" : "DIFFERENCES"} — ${reports[d]?.path}`);
    return allOk ? 0 : 1;
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
  }
}
