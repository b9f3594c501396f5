import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/env.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { INGEST_QUEUE, bullPrefix, type IngestJobData } from "../../src/queue/jobs.js";
import { SyncProgress } from "../../src/queue/progress.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { spawnCli } from "../support/cli.js";
import { writeLangSmithRuns } from "../support/generate.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { MAPPINGS, lagoTenantTotals } from "../support/stack.js";

const TENANTS = ["acme", "globex", "initech"];

describe("a worker killed mid-ingest", () => {
  let sandbox: Sandbox;
  let redis: Redis;
  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, seed: demoSeed(TENANTS, [{ metric: "llm_tokens", valueProperty: "value" }]) });
    redis = new Redis(testRedisUrl());
  });
  afterAll(async () => {
    await redis.quit();
    await sandbox.stop();
  });

  it("resumes from its checkpoint in a new worker, not from the start, and bills exactly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-resume-"));
    const file = join(dir, "runs.jsonl");
    const expected = await writeLangSmithRuns(file, 40_000, TENANTS); // 80,000 events
    const env = {
      REDIS_URL: testRedisUrl(),
      TRACEBILL_QUEUE_PREFIX: uniquePrefix("resume"),
      LAGO_API_URL: sandbox.lagoApiUrl,
      LAGO_API_KEY: sandbox.lagoApiKey,
      TRACEBILL_BACKOFF_MS: "200",
      TRACEBILL_JOB_LOCK_MS: "3000",
      TRACEBILL_HTTP_TIMEOUT_MS: "2000",
      LOG_LEVEL: "info",
    };
    const config = { ...loadConfig({}), redisUrl: env.REDIS_URL, queuePrefix: env.TRACEBILL_QUEUE_PREFIX };
    const syncId = await enqueueSync(redis, config, { destination: "lago", inputs: [file], mappingPath: MAPPINGS });
    const ingestQueue = new Queue<IngestJobData>(INGEST_QUEUE, { connection: redis, prefix: bullPrefix(config.queuePrefix) });
    const progress = new SyncProgress(redis, config.queuePrefix);

    const first = spawnCli(["worker"], env);
    const firstExit = new Promise((r) => first.on("exit", r));
    // Kill -9 as soon as the ingest job has checkpointed, while it is still reading.
    let killedAt: IngestJobData["checkpoint"];
    for (let i = 0; i < 3000 && !killedAt; i++) {
      const job = await ingestQueue.getJob(`ingest-${syncId}`);
      if (job?.data.checkpoint) {
        first.kill("SIGKILL");
        killedAt = job.data.checkpoint;
      } else await new Promise((r) => setTimeout(r, 10));
    }
    await firstExit;
    expect(killedAt, "the ingest job never checkpointed").toBeDefined();
    expect((await progress.snapshot(syncId))?.ingestDone).toBe(false);

    // BullMQ hands the killed worker's job to the next worker once its lock expires (stalled job).
    const second = spawnCli(["worker"], env);
    let log = "";
    second.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    try {
      const s = await waitForSync(redis, config, syncId, undefined, 100);
      expect(s.events).toBe(80_000);
      expect(s.dead).toBe(0);
      expect(s.delivered + s.already).toBe(80_000);
      expect(lagoTenantTotals(sandbox)).toEqual(expected);
      const resumed = log.split("\n").find((l) => l.includes("ingest resuming from checkpoint"));
      expect(resumed, log.slice(0, 2000)).toBeDefined();
      expect(JSON.parse(resumed!).resume.item).toBeGreaterThan(0);
    } finally {
      const exited = new Promise((r) => second.on("exit", r));
      second.kill("SIGTERM");
      await exited;
      await ingestQueue.close();
    }
  }, 240_000);
});
