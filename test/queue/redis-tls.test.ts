import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis } from "../../src/cli/context.js";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { loadConfig, type Config } from "../../src/config/env.js";
import { RedisLedger } from "../../src/ledger/redis-ledger.js";
import { UserError } from "../../src/model/index.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { startWorker } from "../../src/queue/worker.js";
import { createLogger } from "../../src/runtime/logger.js";
import { demoSeed, startSandbox } from "../../src/sandbox/index.js";
import { createSink } from "../../src/sinks/registry.js";
import { EXAMPLE_TENANT_TOTALS, EXAMPLE_TENANTS } from "../support/expected.js";
import { runCli } from "../support/cli.js";
import { uniquePrefix } from "../support/redis.js";
import { startTlsRedis, type TlsRedis } from "../support/redis-servers.js";
import { MAPPINGS, lagoTenantTotals, openmeterTenantTotals } from "../support/stack.js";

describe("rediss:// (TLS) with a password, against a redis-server speaking only TLS", () => {
  let tls: TlsRedis;
  beforeAll(async () => {
    tls = await startTlsRedis();
  }, 30_000);
  afterAll(async () => {
    await tls?.stop();
  });

  const configOf = (env: Record<string, string>): Config => loadConfig({ LOG_LEVEL: "silent", TRACEBILL_QUEUE_PREFIX: uniquePrefix("tls"), TRACEBILL_BACKOFF_MS: "20", ...env });

  it("connects with the CA from REDIS_TLS_CA_FILE and the password from REDIS_URL", async () => {
    const redis = await connectRedis(configOf({ REDIS_URL: tls.url, REDIS_TLS_CA_FILE: tls.caFile }));
    try {
      expect(await redis.ping()).toBe("PONG");
      // The server really is TLS-only and password-protected.
      expect(await redis.config("GET", "tls-port")).toEqual(["tls-port", String(tls.port)]);
      expect(await redis.config("GET", "port")).toEqual(["port", "0"]);
    } finally {
      await redis.quit();
    }
  });

  it("refuses a server certificate its CA did not sign, a wrong password, and plain redis:// — each a clear exit-2 error", async () => {
    const wrongCa = connectRedis(configOf({ REDIS_URL: tls.url, REDIS_TLS_CA_FILE: tls.otherCaFile }));
    await expect(wrongCa).rejects.toBeInstanceOf(UserError);
    await expect(wrongCa).rejects.toThrow(/Cannot reach Redis at REDIS_URL \(rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+ \(CA .*other\.crt\)\) \(.*certificate/);
    const wrongPass = connectRedis(configOf({ REDIS_URL: tls.url.replace(encodeURIComponent(tls.password), "nope"), REDIS_TLS_CA_FILE: tls.caFile }));
    await expect(wrongPass).rejects.toThrow(/WRONGPASS|invalid username-password/);
    // No password in any message.
    await wrongPass.catch((e: Error) => expect(e.message).not.toContain(tls.password));
    await wrongCa.catch((e: Error) => expect(e.message).not.toContain(tls.password));
    const plain = connectRedis(configOf({ REDIS_URL: tls.url.replace("rediss://", "redis://") }));
    await expect(plain).rejects.toBeInstanceOf(UserError);
  });

  it("as a process: the CLI reads REDIS_URL + REDIS_TLS_CA_FILE from the environment (status exits 0, never shows the password)", async () => {
    const r = await runCli(["status", "--json"], { REDIS_URL: tls.url, REDIS_TLS_CA_FILE: tls.caFile, TRACEBILL_QUEUE_PREFIX: uniquePrefix("tlscli") });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).redis).toBe(`rediss://:***@127.0.0.1:${tls.port} (CA ${tls.caFile})`);
    expect(r.stdout + r.stderr).not.toContain(tls.password);
    const noCa = await runCli(["status"], { REDIS_URL: tls.url });
    expect(noCa.code).toBe(2);
    expect(noCa.stderr).toMatch(/Cannot reach Redis at REDIS_URL .*certificate/);
  });

  it("REDIS_TLS_INSECURE skips verification (the wrong CA then connects)", async () => {
    const redis = await connectRedis(configOf({ REDIS_URL: tls.url, REDIS_TLS_CA_FILE: tls.otherCaFile, REDIS_TLS_INSECURE: "true" }));
    expect(await redis.ping()).toBe("PONG");
    await redis.quit();
  });

  it("a sync through TLS + auth bills exactly like the plain one, and a re-sync sends nothing", async () => {
    const sandbox = await startSandbox({ port: 0, seed: demoSeed(EXAMPLE_TENANTS, [{ metric: "llm_tokens", valueProperty: "value" }]) });
    const config: Config = {
      ...configOf({ REDIS_URL: tls.url, REDIS_TLS_CA_FILE: tls.caFile }),
      lago: { apiUrl: sandbox.lagoApiUrl, apiKey: sandbox.lagoApiKey },
      openmeter: { url: sandbox.openmeterUrl, apiKey: sandbox.openmeterApiKey },
    };
    const redis = await connectRedis(config);
    const sinks = {
      lago: createSink("lago", { url: sandbox.lagoApiUrl, apiKey: sandbox.lagoApiKey, timeoutMs: 5000 }),
      openmeter: createSink("openmeter", { url: sandbox.openmeterUrl, apiKey: sandbox.openmeterApiKey, timeoutMs: 5000 }),
    };
    const worker = await startWorker({ config, sinks, ledger: new RedisLedger(redis, { prefix: config.queuePrefix, ttlSeconds: 3600 }), logger: createLogger("silent") });
    try {
      for (const round of [1, 2]) {
        for (const d of ["lago", "openmeter"] as const) {
          const id = await enqueueSync(redis, config, { destination: d, inputs: exampleInputs(), mappingPath: MAPPINGS });
          const s = await waitForSync(redis, config, id, undefined, 50);
          expect(s.error).toBeNull();
          expect(s.events).toBe(59);
          expect(round === 1 ? s.delivered : s.already).toBe(59);
        }
      }
      expect(lagoTenantTotals(sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);
      expect(openmeterTenantTotals(sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);
      expect(sandbox.state.openmeterEvents()).toHaveLength(59);
    } finally {
      await worker.close();
      await redis.quit();
      await sandbox.stop();
    }
  });
});
