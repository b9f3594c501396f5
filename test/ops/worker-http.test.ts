import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { runCli, spawnCli } from "../support/cli.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";

/** `tracebill worker` as a process: where its HTTP server binds, what it logs, how it stops. */
describe("tracebill worker's HTTP server", () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, seed: demoSeed(["acme"], [{ metric: "llm_tokens", valueProperty: "value" }]) });
    env = {
      REDIS_URL: testRedisUrl(), TRACEBILL_QUEUE_PREFIX: uniquePrefix("ops-cli"), LOG_LEVEL: "info",
      LAGO_API_URL: sandbox.lagoApiUrl, LAGO_API_KEY: sandbox.lagoApiKey,
    };
  });
  afterAll(async () => {
    await sandbox.stop();
  });

  it("logs the bound address (127.0.0.1 by default), answers /healthz and /readyz, and closes on SIGTERM", async () => {
    const worker = spawnCli(["worker"], env);
    let logs = "";
    worker.stderr?.on("data", (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((r) => worker.once("exit", (code) => r(code)));
    while (!logs.includes("worker running")) {
      if (worker.exitCode !== null) throw new Error(logs);
      await new Promise((r) => setTimeout(r, 50));
    }
    const line = logs.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { msg: string; address?: string; dashboard?: string }).find((l) => l.address);
    expect(line?.msg).toBe("HTTP server listening: /healthz /readyz /metrics");
    expect(line?.dashboard).toBe("off");
    const base = line!.address!;
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(await ready.json()).toEqual({ status: "ready", checks: { redis: "up", lago: "up" } });
    expect((await fetch(`${base}/dashboard`)).status).toBe(404);
    worker.kill("SIGTERM");
    expect(await exited).toBe(0);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it("refuses to start (exit 2, naming HTTP_PORT) when its port is taken", async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = await runCli(["worker"], { ...env, HTTP_PORT: String(port) });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`Cannot serve HTTP on 127.0.0.1:${port} (EADDRINUSE): set HTTP_PORT`);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
