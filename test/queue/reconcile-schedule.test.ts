import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { createLogger } from "../../src/runtime/logger.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { startScheduledReconcile, type ScheduledReconcile } from "../../src/queue/reconcile-schedule.js";
import { redisConnection } from "../../src/queue/worker.js";
import { EXAMPLE_TENANTS } from "../support/expected.js";
import { MAPPINGS, startStack, type Stack } from "../support/stack.js";

describe("scheduled reconciliation in the worker", () => {
  let stack: Stack | undefined;
  let scheduled: ScheduledReconcile | undefined;
  afterEach(async () => {
    await scheduled?.close();
    await stack?.stop();
    stack = scheduled = undefined;
  });

  it("reconciles each configured destination on schedule and keeps the reports", async () => {
    stack = await startStack({ customers: EXAMPLE_TENANTS });
    const id = await enqueueSync(stack.redis, stack.config, { destination: "lago", inputs: exampleInputs(), mappingPath: MAPPINGS });
    await waitForSync(stack.redis, stack.config, id, undefined, 50);
    const reportsDir = mkdtempSync(join(tmpdir(), "tb-sched-"));
    const config = { ...stack.config, reportsDir, mappingsDir: MAPPINGS };
    scheduled = await startScheduledReconcile({
      config, connection: () => redisConnection(config.redisUrl), sinks: { lago: stack.sinks.lago }, ledger: stack.ledger,
      logger: createLogger("silent"), schedule: { everyMs: 300, days: 10 },
      // The examples' usage is 2026-11-20..25: "today" is set so the window covers it.
      now: () => new Date("2026-11-26T12:00:00Z"),
    });
    const dir = join(reportsDir, "scheduled", "lago");
    for (let i = 0; i < 200 && !(existsSync(dir) && readdirSync(dir).length > 0); i++) await new Promise((r) => setTimeout(r, 50));
    const runs = readdirSync(dir);
    expect(runs.length).toBeGreaterThan(0);
    const report = JSON.parse(readFileSync(join(dir, runs[0]!, "report.json"), "utf8"));
    expect(report.ok).toBe(true);
    expect(report.destination).toBe("lago");
    expect(report.window).toEqual({ from: "2026-11-17T00:00:00.000Z", to: "2026-11-27T00:00:00.000Z" });
    expect(report.summary.sent).toBe(36_751);
    // The week's sync is listed, and what it did not bill is summed from it.
    expect(report.syncs.map((x: { syncId: string }) => x.syncId)).toEqual([id]);
    const records = report.syncs[0].inputs.reduce((a: number, i: { records: number }) => a + i.records, 0);
    expect(records).toBeGreaterThan(0);
    expect(report.exclusions.records).toBe(records);
    expect(report.exclusions.basis).toMatch(/^1 sync to this destination/);
    expect(existsSync(join(dir, runs[0]!, "report.html"))).toBe(true);
  });
});
