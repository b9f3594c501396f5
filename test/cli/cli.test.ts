import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { runCli, spawnCli } from "../support/cli.js";
import { EXAMPLE_TENANT_TOTALS } from "../support/expected.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";

const inputs = exampleInputs();

describe("tracebill preview", () => {
  it("prints one JSON document with the documented event shape", async () => {
    const r = await runCli(["preview", "--format", "json", ...inputs]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(["events", "skipped", "quarantined"]);
    expect(doc.events.length).toBeGreaterThan(0);
    for (const e of doc.events) {
      expect(Object.keys(e)).toEqual(["id", "customer", "metric", "value", "timestamp", "properties", "source", "mapping"]);
      expect(Object.keys(e.source)).toEqual(["platform", "record_id", "trace_id"]);
      expect(e.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(e.value).toBeGreaterThan(0);
    }
    for (const s of doc.skipped) expect(Object.keys(s).sort()).toEqual(["reason", "source_record_id"]);
    // The same inputs in reverse order (traces file first or last) bill the same events.
    const rev = JSON.parse((await runCli(["preview", "--format", "json", ...[...inputs].reverse()])).stdout);
    const ids = (d: { events: { id: string; value: number }[] }) => d.events.map((e) => `${e.id}=${e.value}`).sort();
    expect(ids(rev)).toEqual(ids(doc));
  });

  it("prints a per-tenant table by default", async () => {
    const r = await runCli(["preview", ...inputs]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("llm_tokens");
    expect(r.stdout).toMatch(/\d+ events, \d+ skipped, \d+ quarantined/);
  });

  it("names an unrecognised input file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-cli-"));
    const f = join(dir, "notes.json");
    writeFileSync(f, JSON.stringify([{ hello: "world" }]));
    const r = await runCli(["preview", f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(f);
  });
});

describe("tracebill mappings validate", () => {
  it("accepts the shipped mappings", async () => {
    const r = await runCli(["mappings", "validate", "mappings"]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("reports every problem as file:line:col and exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-map-"));
    writeFileSync(join(dir, "a.yaml"), "name: a\nbogus_key: 1\n");
    writeFileSync(join(dir, "b.yaml"), "name: [unclosed\n");
    const r = await runCli(["mappings", "validate", dir]);
    expect(r.code).toBe(1);
    const lines = r.stderr.split("\n").filter((l) => /:\d+:\d+ /.test(l));
    expect(lines.some((l) => l.startsWith(join(dir, "a.yaml") + ":2:1 "))).toBe(true);
    expect(lines.some((l) => l.startsWith(join(dir, "b.yaml") + ":"))).toBe(true);
  });
});

describe("configuration errors", () => {
  it("stops start-up naming the bad variable", async () => {
    const r = await runCli(["worker"], { REDIS_URL: "nope", LAGO_API_URL: "http://127.0.0.1:1", LAGO_API_KEY: "k" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("REDIS_URL");
  });
});

describe("worker + sync --wait + reconcile, as separate processes", () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, seed: demoSeed(["acme", "globex", "initech", "10987"], [{ metric: "llm_tokens", valueProperty: "value" }]) });
    env = {
      REDIS_URL: testRedisUrl(),
      TRACEBILL_QUEUE_PREFIX: uniquePrefix("cli"),
      LAGO_API_URL: sandbox.lagoApiUrl,
      LAGO_API_KEY: sandbox.lagoApiKey,
      OPENMETER_URL: sandbox.openmeterUrl,
      OPENMETER_API_KEY: sandbox.openmeterApiKey,
      TRACEBILL_BACKOFF_MS: "50",
    };
  });
  afterAll(async () => {
    await sandbox.stop();
  });

  it("delivers, reconciles to a match, detects excess, and the worker stops gracefully on SIGTERM", async () => {
    const worker = spawnCli(["worker"], env);
    let workerErr = "";
    worker.stderr?.on("data", (d: Buffer) => (workerErr += d.toString()));
    try {
      const s = await runCli(["sync", ...inputs, "--destination", "lago", "--wait"], env);
      expect(s.code, s.stdout + s.stderr).toBe(0);
      expect(s.stdout).toMatch(/delivered:\s+[1-9]\d*/);

      const out = mkdtempSync(join(tmpdir(), "tb-report-"));
      const rec = await runCli(["reconcile", "--destination", "lago", "--from", "2026-11-01T00:00:00Z", "--to", "2026-12-01T00:00:00Z", "--out", out], env);
      expect(rec.code, rec.stdout + rec.stderr).toBe(0);
      expect(existsSync(join(out, "report.md"))).toBe(true);
      const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
      expect(report.ok).toBe(true);
      expect(report.summary.missing + report.summary.excess).toBe(0);
      // The per-input summary of the sync is in the report, quarantined lines included.
      const sync = report.syncs[0];
      expect(sync.inputs.map((i: { input: string }) => i.input).sort()).toEqual([...inputs].sort());
      expect(sync.inputs.reduce((a: number, i: { quarantined: number }) => a + i.quarantined, 0)).toBe(2);
      expect(readFileSync(join(out, "report.md"), "utf8")).toContain("## Recent syncs to this destination");

      // Someone else bills acme through the same subscription: the biller now holds more than we sent.
      const res = await fetch(`${sandbox.lagoApiUrl}/api/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${sandbox.lagoApiKey}` },
        body: JSON.stringify({ event: { transaction_id: "foreign-1", external_subscription_id: "sub_acme", code: "llm_tokens", timestamp: Date.parse("2026-11-21T00:00:00Z") / 1000, properties: { value: 5, model: "gpt-4o", type: "input" } } }),
      });
      expect(res.status).toBe(200);
      const rec2 = await runCli(["reconcile", "--destination", "lago", "--from", "2026-11-01T00:00:00Z", "--to", "2026-12-01T00:00:00Z", "--out", out], env);
      expect(rec2.code).toBe(1);
      const report2 = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
      const acme = report2.rows.filter((r: { customer: string; status: string }) => r.customer === "acme" && r.status === "excess");
      expect(acme).toHaveLength(1);
      expect(acme[0].difference).toBe(5);
      expect(readFileSync(join(out, "report.md"), "utf8")).toContain("excess");
      // Lago's own count of acme's open period includes the foreign event too.
      expect(report2.periodUsage.filter((p: { status: string }) => p.status === "differs").map((p: { customer: string; difference: number }) => [p.customer, p.difference])).toEqual([["acme", 5]]);

      // With the exports: every event of ours in the excess row is held (the surplus is not ours), figures are exact for the window.
      const rec3 = await runCli(["reconcile", "--destination", "lago", "--from", "2026-11-01T00:00:00Z", "--to", "2026-12-01T00:00:00Z", "--out", out, "--inputs", ...inputs], env);
      expect(rec3.code, rec3.stdout + rec3.stderr).toBe(1);
      const report3 = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
      expect(report3.eventChecks).toHaveLength(1);
      expect(report3.eventChecks[0]).toMatchObject({ customer: "acme", status: "excess", events: acme[0].sentEvents, held: acme[0].sentEvents, absentCount: 0, absent: [] });
      expect(report3.exclusions.basis).toBe(`the ${inputs.length} inputs given, usage within the window`);
      expect(report3.exclusions.quarantined.count).toBe(2);
      expect(report3.exclusions.records).toBe(report.exclusions.records);
      expect(report3.allocation.rows.length).toBeGreaterThan(0);
      // No secret in anything the user sees.
      expect(rec2.stdout + rec2.stderr + readFileSync(join(out, "report.md"), "utf8")).not.toContain(sandbox.lagoApiKey);
    } finally {
      const exited = new Promise<number | null>((r) => worker.on("exit", (code) => r(code)));
      worker.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(workerErr).not.toContain(sandbox.lagoApiKey);
    }
  });
});

describe("tracebill demo", () => {
  it("runs the whole pipeline on embedded defaults and prints matching per-tenant totals", async () => {
    const reports = mkdtempSync(join(tmpdir(), "tb-demo-"));
    const r = await runCli(["demo"], { TRACEBILL_REPORTS_DIR: reports }, 120_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/started redis-server at redis:\/\/127\.0\.0\.1:\d+/);
    expect(r.stdout).toContain("lago reconciliation: MATCH");
    expect(r.stdout).toContain("openmeter reconciliation: MATCH");
    for (const [tenant, t] of Object.entries(EXAMPLE_TENANT_TOTALS)) {
      const n = (v: number) => v.toLocaleString("en-US");
      const sum = n(t.input + t.output);
      // Tenant | input | output | sent | lago holds | openmeter holds | ✓ matched
      expect(r.stdout).toMatch(new RegExp(`${tenant}\\s.*${n(t.input)}\\s.*${n(t.output)}\\s.*${sum}\\s.*${sum}\\s.*${sum}\\s.*✓ matched`));
    }
    expect(existsSync(join(reports, readdirSync(reports)[0]!, "lago", "report.md"))).toBe(true);
  });

  it("says exactly how to get redis-server when it is missing", async () => {
    const r = await runCli(["demo"], { PATH: mkdtempSync(join(tmpdir(), "tb-nopath-")) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("apt-get install -y redis-server");
    expect(r.stderr).toContain("REDIS_URL");
  });
});
