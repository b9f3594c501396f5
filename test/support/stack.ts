import { join } from "node:path";
import { Redis } from "ioredis";
import { loadConfig, type Config } from "../../src/config/env.js";
import { RedisLedger } from "../../src/ledger/redis-ledger.js";
import type { Destination } from "../../src/model/index.js";
import { startWorker, type RunningWorker } from "../../src/queue/worker.js";
import type { PipelineMetrics } from "../../src/ops/metrics.js";
import { createLogger } from "../../src/runtime/logger.js";
import { demoSeed, startSandbox, type FaultPlan, type Sandbox } from "../../src/sandbox/index.js";
import { createSink } from "../../src/sinks/registry.js";
import type { BillingSink } from "../../src/sinks/sink.js";
import { testRedisUrl, uniquePrefix } from "./redis.js";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const MAPPINGS = join(ROOT, "mappings");

/** A real stack for one test: the suite's redis-server (own prefix), a sandbox, a worker in-process. */
export interface Stack {
  config: Config;
  sandbox: Sandbox;
  redis: Redis;
  ledger: RedisLedger;
  sinks: Record<Destination, BillingSink>;
  worker: RunningWorker;
  stop(): Promise<void>;
}

export async function startStack(opts: {
  customers: string[];
  faults?: FaultPlan;
  maxAttempts?: number;
  metrics?: { metric: string; valueProperty: string }[];
  /** Handed to the worker (src/ops/metrics.ts): per-stage counters, send latency, queue depths. */
  pipelineMetrics?: PipelineMetrics;
}): Promise<Stack> {
  const sandbox = await startSandbox({ port: 0, seed: demoSeed(opts.customers, opts.metrics ?? [{ metric: "llm_tokens", valueProperty: "value" }]), faults: opts.faults });
  const config: Config = {
    ...loadConfig({ LOG_LEVEL: "silent" }),
    redisUrl: testRedisUrl(),
    queuePrefix: uniquePrefix("stack"),
    backoffMs: 20,
    maxAttempts: opts.maxAttempts ?? 30,
    httpTimeoutMs: 5000,
    lago: { apiUrl: sandbox.lagoApiUrl, apiKey: sandbox.lagoApiKey },
    openmeter: { url: sandbox.openmeterUrl, apiKey: sandbox.openmeterApiKey },
  };
  const sinks = {
    lago: createSink("lago", { url: sandbox.lagoApiUrl, apiKey: sandbox.lagoApiKey, timeoutMs: config.httpTimeoutMs }),
    openmeter: createSink("openmeter", { url: sandbox.openmeterUrl, apiKey: sandbox.openmeterApiKey, timeoutMs: config.httpTimeoutMs }),
  };
  const redis = new Redis(config.redisUrl);
  const ledger = new RedisLedger(redis, { prefix: config.queuePrefix, ttlSeconds: config.ledgerTtlSeconds });
  const worker = await startWorker({ config, sinks, ledger, logger: createLogger("silent"), metrics: opts.pipelineMetrics });
  return {
    config, sandbox, redis, ledger, sinks, worker,
    stop: async () => {
      await worker.close();
      await redis.quit();
      await sandbox.stop();
    },
  };
}

export type TenantTotals = Record<string, { input: number; output: number }>;

/** Per tenant × type of llm_tokens, from what the Lago side of the sandbox stored (subscription sub_<tenant>). */
export function lagoTenantTotals(sandbox: Sandbox): TenantTotals {
  const out: TenantTotals = {};
  for (const e of sandbox.state.lagoEvents()) {
    if (e.code !== "llm_tokens") continue;
    const tenant = e.external_subscription_id.replace(/^sub_/, "");
    add(out, tenant, String(e.properties.type), Number(e.properties.value));
  }
  return out;
}

/** Per tenant × type of llm_tokens, from what the OpenMeter side stored — every copy, since dedupe is off. */
export function openmeterTenantTotals(sandbox: Sandbox): TenantTotals {
  const out: TenantTotals = {};
  for (const e of sandbox.state.openmeterEvents()) if (e.type === "llm_tokens") add(out, e.subject, String(e.data?.type), Number(e.data?.value));
  return out;
}

function add(out: TenantTotals, tenant: string, type: string, value: number): void {
  const t = (out[tenant] ??= { input: 0, output: 0 });
  if (type === "input" || type === "output") t[type] += value;
  else throw new Error(`unexpected event type ${type}`);
}
