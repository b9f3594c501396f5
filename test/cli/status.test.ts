import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { formatStatus, statusCommand, type Status } from "../../src/cli/commands/status.js";
import { WatermarkStore } from "../../src/pull/watermark.js";
import { lastReconcileRuns } from "../../src/queue/activity.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { startScheduledReconcile, type ScheduledReconcile } from "../../src/queue/reconcile-schedule.js";
import { redisConnection } from "../../src/queue/worker.js";
import { createLogger } from "../../src/runtime/logger.js";
import { runCli } from "../support/cli.js";
import { EXAMPLE_TENANTS } from "../support/expected.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { MAPPINGS, startStack, type Stack } from "../support/stack.js";

async function statusJson(stack: Stack, config = stack.config): Promise<Status> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  expect(await statusCommand({ json: true }, out, { redis: stack.redis, config })).toBe(0);
  return JSON.parse(text) as Status;
}

describe("tracebill status", () => {
  let stack: Stack | undefined;
  let scheduled: ScheduledReconcile | undefined;
  afterEach(async () => {
    await scheduled?.close();
    await stack?.stop();
    stack = scheduled = undefined;
  });

  it("shows nothing happened yet on a fresh prefix", async () => {
    stack = await startStack({ customers: EXAMPLE_TENANTS });
    const s = await statusJson(stack);
    expect(s.queues.map((q) => q.queue)).toEqual(["ingest", "deliver-lago", "deliver-openmeter", "reconcile", "pull"]);
    for (const q of s.queues) expect([q.waiting, q.active, q.delayed, q.failed]).toEqual([0, 0, 0, 0]);
    for (const d of s.destinations) {
      expect(d.configured).toBe(true);
      expect(d.deadLetters).toBe(0);
      expect(d.lastSync).toBeNull();
      expect(d.lastReconcile).toBeNull();
      expect(d.throughput.last15Minutes.delivered).toBe(0);
    }
    expect(s.pulls).toEqual([]);
    expect(formatStatus(s)).toContain("never (no pull watermark in Redis)");
  });

  it("reports depths, throughput, dead letters, last sync, last pull and last scheduled reconcile", async () => {
    stack = await startStack({ customers: EXAMPLE_TENANTS });
    const id = await enqueueSync(stack.redis, stack.config, { destination: "lago", inputs: exampleInputs(), mappingPath: MAPPINGS });
    const done = await waitForSync(stack.redis, stack.config, id, undefined, 50);
    expect(done.delivered).toBe(59);

    // A dead letter, a pull watermark, and a scheduled reconciliation that really runs.
    await stack.ledger.deadLetter("openmeter", [{ event: { id: "tb_x", customer: "acme", metric: "llm_tokens", value: 1, timestamp: "2026-11-20T00:00:00Z", properties: {}, source: { platform: "langsmith", record_id: "r", trace_id: "t" }, mapping: "llm-tokens" } as never, reason: "refused", at: new Date().toISOString() }]);
    const lease = await new WatermarkStore(stack.redis, stack.config.queuePrefix).acquire({ platform: "langsmith", project: "billing-prod" }, 5000);
    await lease!.advance(null, Date.parse("2026-11-27T10:00:00Z"));
    await lease!.release();
    const config = { ...stack.config, reportsDir: mkdtempSync(join(tmpdir(), "tb-status-")), mappingsDir: MAPPINGS };
    scheduled = await startScheduledReconcile({
      config, connection: () => redisConnection(config.redisUrl), sinks: { lago: stack.sinks.lago }, ledger: stack.ledger,
      logger: createLogger("silent"), schedule: { everyMs: 300, days: 10 }, now: () => new Date("2026-11-26T12:00:00Z"),
    });
    for (let i = 0; i < 200 && !(await lastReconcileRuns(stack.redis, config.queuePrefix)).lago; i++) await new Promise((r) => setTimeout(r, 50));
    await scheduled.close();
    scheduled = undefined;

    // A sync nobody works on (a prefix without a worker): its ingest job waits.
    const idle = { ...stack.config, queuePrefix: uniquePrefix("idle") };
    await enqueueSync(stack.redis, idle, { destination: "openmeter", inputs: exampleInputs(), mappingPath: MAPPINGS });
    const idleStatus = await statusJson(stack, idle);
    expect(idleStatus.queues.find((q) => q.queue === "ingest")!.waiting).toBe(1);
    expect(idleStatus.destinations.find((d) => d.destination === "openmeter")!.lastSync!.state).toBe("running");

    const s = await statusJson(stack);
    const lago = s.destinations.find((d) => d.destination === "lago")!;
    expect(lago.lastSync).toMatchObject({ syncId: id, state: "finished", events: 59, delivered: 59, dead: 0 });
    expect(lago.throughput.lastMinute.delivered).toBe(59);
    expect(lago.throughput.last15Minutes.delivered).toBe(59);
    expect(lago.deadLetters).toBe(0);
    expect(lago.lastReconcile).toMatchObject({ ok: true, missing: 0, excess: 0 });
    expect(lago.lastReconcile!.dir).toContain(join(config.reportsDir, "scheduled", "lago"));
    const om = s.destinations.find((d) => d.destination === "openmeter")!;
    expect(om.deadLetters).toBe(1);
    expect(om.lastSync).toBeNull();
    expect(om.lastReconcile).toBeNull();
    expect(s.pulls).toEqual([{ platform: "langsmith", project: "billing-prod", watermark: "2026-11-27T10:00:00.000Z", updatedAt: expect.any(String) }]);

    const text = formatStatus(s);
    expect(text).toMatch(/│ lago\s+│ yes\s+│\s+59 │\s+59 │\s+0 │\s+0 │ \S+ finished \(59\/59 delivered, 0 already, 0 dead\) │ \S+ match/);
    expect(text).toMatch(/│ openmeter\s+│ yes\s+│\s+0 │\s+0 │\s+0 │\s+1 │ never/);
    expect(text).toContain("│ langsmith │ billing-prod │ 2026-11-27T10:00:00.000Z");
  });

  it("as a process: --json on a real Redis exits 0; an unreachable Redis exits 2 with a clear message", async () => {
    const env = { REDIS_URL: testRedisUrl(), TRACEBILL_QUEUE_PREFIX: uniquePrefix("statuscli") };
    const ok = await runCli(["status", "--json"], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).queuePrefix).toBe(env.TRACEBILL_QUEUE_PREFIX);
    const table = await runCli(["status"], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("deliver-openmeter");
    const down = await runCli(["status"], { REDIS_URL: "redis://:hunter2hunter2@127.0.0.1:1" });
    expect(down.code).toBe(2);
    expect(down.stderr).toContain("Cannot reach Redis at REDIS_URL (redis://:***@127.0.0.1:1)");
    expect(down.stderr).not.toContain("hunter2");
    expect(down.stdout).toBe("");
  });
});
