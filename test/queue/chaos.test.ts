import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type Config } from "../../src/config/env.js";
import { RedisLedger } from "../../src/ledger/redis-ledger.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { SyncProgress } from "../../src/queue/progress.js";
import { startRedisServer, type RedisProcess } from "../../src/runtime/redis-server.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { writeLangSmithRuns } from "../support/generate.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { MAPPINGS, lagoTenantTotals, openmeterTenantTotals } from "../support/stack.js";
import { WorkerPool, seeded } from "../support/workers.js";

const TENANTS = ["acme", "globex", "initech"];

function envFor(sandbox: Sandbox, redisUrl: string, prefix: string): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    TRACEBILL_QUEUE_PREFIX: prefix,
    LAGO_API_URL: sandbox.lagoApiUrl,
    LAGO_API_KEY: sandbox.lagoApiKey,
    OPENMETER_URL: sandbox.openmeterUrl,
    OPENMETER_API_KEY: sandbox.openmeterApiKey,
    TRACEBILL_BACKOFF_MS: "100",
    TRACEBILL_MAX_ATTEMPTS: "50",
    TRACEBILL_JOB_LOCK_MS: "2000",
    TRACEBILL_HTTP_TIMEOUT_MS: "2000",
    LOG_LEVEL: "warn",
  };
}

function configFor(env: Record<string, string>): Config {
  return { ...loadConfig({}), redisUrl: env.REDIS_URL!, queuePrefix: env.TRACEBILL_QUEUE_PREFIX! };
}

describe("exactly-once effect under crashes, concurrency, restarts and faults (real processes)", () => {
  let sandbox: Sandbox;
  let dir: string;
  let file: string;
  let expected: Record<string, { input: number; output: number }>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tb-chaos-"));
    file = join(dir, "runs.jsonl");
    expected = await writeLangSmithRuns(file, 50_000, TENANTS); // 100,000 events
  });
  const fresh = async (opts: Parameters<typeof startSandbox>[0] = {}) => {
    await sandbox?.stop();
    sandbox = await startSandbox({ port: 0, seed: demoSeed(TENANTS, [{ metric: "llm_tokens", valueProperty: "value" }]), ...opts });
  };
  afterAll(async () => {
    await sandbox?.stop();
  });

  it("kill -9 at 20 random points during a 100k-event sync to OpenMeter: exact totals, zero duplicates", async () => {
    await fresh();
    const env = envFor(sandbox, testRedisUrl(), uniquePrefix("kill"));
    const config = configFor(env);
    const redis = new Redis(config.redisUrl);
    const pool = new WorkerPool(env);
    try {
      const id = await enqueueSync(redis, config, { destination: "openmeter", inputs: [file], mappingPath: MAPPINGS });
      const rand = seeded(20261127);
      let kills = 0;
      pool.start();
      const progress = new SyncProgress(redis, config.queuePrefix);
      while (kills < 20) {
        await new Promise((r) => setTimeout(r, 150 + rand() * 900));
        const snap = await progress.snapshot(id);
        if (snap && SyncProgress.isFinished(snap)) break;
        await pool.kill9();
        kills++;
        pool.start();
      }
      const s = await Promise.race([
        waitForSync(redis, config, id, undefined, 200),
        new Promise<never>((_, rej) => setTimeout(async () => rej(new Error("STUCK " + JSON.stringify({ ...(await progress.snapshot(id)), perInput: {}, quarantine: [] }) + "\n" + pool.logs.split("\n").slice(-30).join("\n"))), 240_000)),
      ]);
      expect(kills).toBe(20);
      expect(s.events).toBe(100_000);
      expect(s.dead).toBe(0);
      expect(s.delivered + s.already).toBe(100_000);
      expect(sandbox.state.counts().openmeter.duplicatesStored).toBe(0);
      expect(openmeterTenantTotals(sandbox)).toEqual(expected);
    } finally {
      await pool.stopAll();
      await redis.quit();
    }
  }, 600_000);

  it("three worker processes on one Redis deliver exactly", async () => {
    await fresh();
    const env = envFor(sandbox, testRedisUrl(), uniquePrefix("three"));
    const config = configFor(env);
    const redis = new Redis(config.redisUrl);
    const pool = new WorkerPool(env);
    try {
      pool.start();
      pool.start();
      pool.start();
      const id = await enqueueSync(redis, config, { destination: "openmeter", inputs: [file], mappingPath: MAPPINGS });
      const s = await waitForSync(redis, config, id, undefined, 200);
      expect(s.dead).toBe(0);
      expect(sandbox.state.counts().openmeter.duplicatesStored).toBe(0);
      expect(openmeterTenantTotals(sandbox)).toEqual(expected);
    } finally {
      await pool.stopAll();
      await redis.quit();
    }
  }, 300_000);

  it("Redis restarted mid-run (AOF on): the sync completes, exactly", async () => {
    await fresh();
    const redisDir = mkdtempSync(join(tmpdir(), "tb-aof-"));
    let server: RedisProcess = await startRedisServer({ appendOnly: true, dir: redisDir });
    const env = envFor(sandbox, server.url, uniquePrefix("aof"));
    const config = configFor(env);
    const pool = new WorkerPool(env);
    let redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
    try {
      pool.start();
      const id = await enqueueSync(redis, config, { destination: "lago", inputs: [file], mappingPath: MAPPINGS });
      const progress = new SyncProgress(redis, config.queuePrefix);
      // Restart once a good part of the delivery has happened.
      for (let i = 0; i < 600; i++) {
        const snap = await progress.snapshot(id);
        if (snap && snap.settled > 20_000) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await redis.quit();
      const port = server.port;
      await server.stop();
      server = await startRedisServer({ appendOnly: true, dir: redisDir, port });
      redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
      const s = await waitForSync(redis, config, id, undefined, 200);
      expect(s.dead).toBe(0);
      expect(lagoTenantTotals(sandbox)).toEqual(expected);
    } finally {
      await pool.stopAll();
      await redis.quit();
      await server.stop();
    }
  }, 300_000);

  it("5xx, 429, accept-then-500, resets and slow answers all at once: exact, and the DLQ holds only the truly invalid events", async () => {
    // initech has no Lago subscription: its events are the only invalid ones.
    await sandbox?.stop();
    sandbox = await startSandbox({
      port: 0,
      seed: demoSeed(["acme", "globex"], [{ metric: "llm_tokens", valueProperty: "value" }]),
      faults: { seed: 5, lago: { status5xx: 0.2, status429: 0.1, acceptThen500: 0.05, reset: 0.05, slowMs: 20, retryAfterSeconds: 0 } },
    });
    const small = join(dir, "storm.jsonl");
    const exp = await writeLangSmithRuns(small, 5_000, TENANTS);
    const env = envFor(sandbox, testRedisUrl(), uniquePrefix("storm"));
    const config = configFor(env);
    const redis = new Redis(config.redisUrl);
    const pool = new WorkerPool(env);
    try {
      pool.start();
      const id = await enqueueSync(redis, config, { destination: "lago", inputs: [small], mappingPath: MAPPINGS });
      const s = await waitForSync(redis, config, id, undefined, 200);
      const { initech: _bad, ...good } = exp;
      expect(lagoTenantTotals(sandbox)).toEqual(good);
      const letters = await new RedisLedger(redis, { prefix: config.queuePrefix, ttlSeconds: 3600 }).deadLetters("lago", 100_000);
      expect(s.dead).toBe(letters.length);
      expect(letters.length).toBeGreaterThan(0);
      expect(letters.every((l) => l.event.customer === "initech" && /subscription/.test(l.reason))).toBe(true);
      const faults = sandbox.state.counts().lago.faults;
      expect((faults.status5xx ?? 0) + (faults.acceptThen500 ?? 0) + (faults.reset ?? 0)).toBeGreaterThan(0);
    } finally {
      await pool.stopAll();
      await redis.quit();
    }
  }, 300_000);
});
