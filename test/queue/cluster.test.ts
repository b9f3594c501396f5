import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { readStatus } from "../../src/cli/commands/status.js";
import { loadConfig, type Config } from "../../src/config/env.js";
import { RedisLedger } from "../../src/ledger/redis-ledger.js";
import { WatermarkStore } from "../../src/pull/watermark.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { redisConnection, startWorker, type RunningWorker } from "../../src/queue/worker.js";
import { createLogger } from "../../src/runtime/logger.js";
import { isCluster, keySlot, slotSafePipeline } from "../../src/runtime/redis-client.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { createSink } from "../../src/sinks/registry.js";
import { EXAMPLE_TENANT_TOTALS, EXAMPLE_TENANTS } from "../support/expected.js";
import { startRedisCluster, type RedisCluster } from "../support/redis-servers.js";
import { MAPPINGS, lagoTenantTotals, openmeterTenantTotals } from "../support/stack.js";
import { uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/cli.js";

describe("Redis Cluster (3 masters started by the test)", () => {
  let cluster: RedisCluster;
  let sandbox: Sandbox;
  let config: Config;
  let redis: Redis;
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    sandbox = await startSandbox({ port: 0, seed: demoSeed(EXAMPLE_TENANTS, [{ metric: "llm_tokens", valueProperty: "value" }]) });
    config = {
      ...loadConfig({ LOG_LEVEL: "silent", REDIS_CLUSTER_NODES: cluster.nodes, TRACEBILL_QUEUE_PREFIX: uniquePrefix("cluster"), TRACEBILL_BACKOFF_MS: "20" }),
      lago: { apiUrl: sandbox.lagoApiUrl, apiKey: sandbox.lagoApiKey },
      openmeter: { url: sandbox.openmeterUrl, apiKey: sandbox.openmeterApiKey },
    };
    redis = redisConnection(config.redisUrl);
  }, 30_000);

  afterAll(async () => {
    await worker?.close();
    await redis?.quit().catch(() => undefined);
    await sandbox?.stop();
    await cluster?.stop();
  });

  it("the config's connection string opens a cluster client whose keys really spread over the nodes", async () => {
    expect(isCluster(redis)).toBe(true);
    const masters = (redis as unknown as { nodes(role: string): Redis[] }).nodes("master");
    expect(masters).toHaveLength(3);
  });

  it("computes hash slots as the cluster does, and pipelines across nodes keep order and results", async () => {
    const keys = ["foo", "{user1000}.following", "tracebill:ctx:t:{langfuse:abc}", "{tbtest}:ingest:wait", "x{}y", "a{b}c{d}"];
    for (const k of keys) expect(keySlot(k)).toBe(Number(await redis.cluster("KEYSLOT", k)));
    const p = slotSafePipeline(redis);
    const many = Array.from({ length: 50 }, (_, i) => `${config.queuePrefix}:pipe:{k${i}}`);
    for (const k of many) {
      p.rpush(k, "a");
      p.rpush(k, "b");
      p.lrange(k, 0, -1);
    }
    const res = (await p.exec())!;
    expect(res).toHaveLength(150);
    for (let i = 0; i < 50; i++) expect(res[i * 3 + 2]).toEqual([null, ["a", "b"]]);
    expect(new Set(many.map((k) => keySlot(k))).size).toBeGreaterThan(3);
  });

  it("bills the examples exactly through the cluster, and a re-sync sends nothing", async () => {
    const sinks = {
      lago: createSink("lago", { url: sandbox.lagoApiUrl, apiKey: sandbox.lagoApiKey, timeoutMs: 5000 }),
      openmeter: createSink("openmeter", { url: sandbox.openmeterUrl, apiKey: sandbox.openmeterApiKey, timeoutMs: 5000 }),
    };
    const ledger = new RedisLedger(redis, { prefix: config.queuePrefix, ttlSeconds: config.ledgerTtlSeconds });
    // A key of the old ledger layout lives on one of the three masters: it is found wherever it is.
    const legacy = `${config.queuePrefix}:ledger:{openmeter}:k:tb_legacy`;
    await redis.set(legacy, "1");
    expect(await ledger.retireLegacyKeys("openmeter")).toBe(false);
    await redis.del(legacy);
    expect(await ledger.retireLegacyKeys("openmeter")).toBe(true);
    expect(await ledger.retireLegacyKeys("lago")).toBe(true);
    worker = await startWorker({ config, sinks, ledger, logger: createLogger(process.env.TB_DEBUG ? "debug" : "silent") });
    const inputs = exampleInputs();
    for (const d of ["lago", "openmeter"] as const) {
      const id = await enqueueSync(redis, config, { destination: d, inputs, mappingPath: MAPPINGS });
      const s = await waitForSync(redis, config, id, undefined, 50);
      expect(s.error).toBeNull();
      expect(s.dead).toBe(0);
      expect(s.events).toBe(59);
      expect(s.delivered).toBe(s.events);
    }
    expect(lagoTenantTotals(sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);
    expect(openmeterTenantTotals(sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);
    const stored = { lago: sandbox.state.lagoEvents().length, openmeter: sandbox.state.openmeterEvents().length };

    for (const d of ["lago", "openmeter"] as const) {
      const id = await enqueueSync(redis, config, { destination: d, inputs, mappingPath: MAPPINGS });
      const s = await waitForSync(redis, config, id, undefined, 50);
      expect(s.error).toBeNull();
      expect(s.delivered).toBe(0);
      expect(s.already).toBe(s.events);
    }
    expect(sandbox.state.lagoEvents().length).toBe(stored.lago);
    expect(sandbox.state.openmeterEvents().length).toBe(stored.openmeter);

    const window = [new Date("2026-11-01T00:00:00Z"), new Date("2026-12-01T00:00:00Z")] as const;
    const sum = (await ledger.totals("lago", ...window)).reduce((a, t) => a + t.value, 0);
    expect(sum).toBe(Object.values(EXAMPLE_TENANT_TOTALS).reduce((a, t) => a + t.input + t.output, 0));

    // `tracebill status` reads everything it shows through the cluster too.
    const status = await readStatus(redis, config);
    expect(status.redis).toBe(`redis://cluster(${cluster.nodes})`);
    const lago = status.destinations.find((d) => d.destination === "lago")!;
    expect(lago.lastSync).toMatchObject({ state: "finished", events: 59, delivered: 0, already: 59 });
    expect(lago.throughput.last15Minutes).toEqual({ delivered: 59, already: 59, dead: 0 });
    for (const q of status.queues) expect(q.waiting + q.active + q.failed).toBe(0);
  });

  it("as a process: REDIS_CLUSTER_NODES from the environment reaches the cluster; an unreachable one is exit 2 with a clear message", async () => {
    const ok = await runCli(["status", "--json"], { REDIS_CLUSTER_NODES: cluster.nodes, TRACEBILL_QUEUE_PREFIX: config.queuePrefix });
    expect(ok.code, ok.stderr).toBe(0);
    const lago = JSON.parse(ok.stdout).destinations.find((d: { destination: string }) => d.destination === "lago");
    expect(lago.lastSync.events).toBe(59);
    const r = await runCli(["status"], { REDIS_CLUSTER_NODES: "127.0.0.1:1,127.0.0.1:2" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Cannot reach Redis at REDIS_URL (redis://cluster(127.0.0.1:1,127.0.0.1:2))");
  });

  it("moves a pull watermark under its lease (two keys, one script) on the cluster", async () => {
    const store = new WatermarkStore(redis, config.queuePrefix);
    const stream = { platform: "langfuse" as const, project: "proj-1" };
    const lease = await store.acquire(stream, 5000);
    expect(lease).not.toBeNull();
    await lease!.advance(null, 1_700_000_000_000);
    await lease!.release();
    expect(await store.get(stream)).toBe(1_700_000_000_000);
  });
});
