import { afterEach, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { loadConfig } from "../../src/config/env.js";
import { startOpsServer, type OpsServer } from "../../src/ops/http.js";
import { createMetrics, type Metrics } from "../../src/ops/metrics.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { EXAMPLE_TENANTS } from "../support/expected.js";
import { MAPPINGS, startStack, type Stack } from "../support/stack.js";
import { parseProm, total } from "./prom.js";

const DASHBOARD = { user: "ops", password: "correct-horse-battery" };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("the worker's HTTP server (real worker, real Redis, sandbox)", () => {
  let stack: Stack | undefined;
  let server: OpsServer | undefined;
  let metrics: Metrics;
  afterEach(async () => {
    await server?.close();
    await stack?.stop().catch(() => undefined);
    stack = server = undefined;
  });

  /** A stack whose worker reports to `metrics`, and its HTTP server where the default config binds it (port: any free one). */
  async function start(dashboard = false): Promise<OpsServer> {
    metrics = createMetrics();
    stack = await startStack({ customers: EXAMPLE_TENANTS, pipelineMetrics: metrics });
    const defaults = loadConfig({});
    server = await startOpsServer({
      host: defaults.http.host, port: 0, metrics, redis: stack.redis, destinations: stack.sinks, readyTimeoutMs: 5000,
      ...(dashboard ? { dashboard: { ...DASHBOARD, queues: stack.worker.queues } } : {}),
    });
    return server;
  }

  it("binds 127.0.0.1 by default, and /healthz answers 200", async () => {
    expect(loadConfig({}).http).toEqual({ port: 9464, host: "127.0.0.1" });
    const s = await start();
    expect(s.host).toBe("127.0.0.1");
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await fetch(`${s.url}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ok" });
    expect((await fetch(`${s.url}/nope`)).status).toBe(404);
  });

  it("/readyz is 200 while Redis and both destinations answer, 503 naming what is down (and no secret) otherwise", async () => {
    const s = await start();
    let r = await fetch(`${s.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ready", checks: { redis: "up", lago: "up", openmeter: "up" } });

    // Lago fails every request (its probe included); OpenMeter still answers.
    stack!.sandbox.setFaults({ lago: { status5xx: 1, scope: "all" } });
    r = await fetch(`${s.url}/readyz`);
    expect(r.status).toBe(503);
    let text = await r.text();
    expect(JSON.parse(text)).toEqual({ status: "not ready", down: ["lago"], checks: { redis: "up", lago: "down", openmeter: "up" } });
    for (const secret of [stack!.config.lago.apiKey!, stack!.config.openmeter.apiKey!]) expect(text).not.toContain(secret);

    // The sandbox goes away: both destinations are down.
    await stack!.sandbox.stop();
    r = await fetch(`${s.url}/readyz`);
    expect(r.status).toBe(503);
    text = await r.text();
    expect(JSON.parse(text)).toMatchObject({ status: "not ready", down: ["lago", "openmeter"], checks: { redis: "up" } });
  });

  it("/metrics serves the worker's counters after a sync of the examples, with the values the sync summary reports", async () => {
    const s = await start();
    const id = await enqueueSync(stack!.redis, stack!.config, { destination: "lago", inputs: exampleInputs(), mappingPath: MAPPINGS });
    const summary = await waitForSync(stack!.redis, stack!.config, id, undefined, 50);
    const r = await fetch(`${s.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const all = parseProm(await r.text());
    const l = { destination: "lago" };
    const recordsRead = Object.values(summary.perInput).reduce((a, i) => a + i.records, 0);
    expect(total(all, "tracebill_records_read_total", l)).toBe(recordsRead);
    expect(total(all, "tracebill_records_quarantined_total", l)).toBe(summary.quarantined);
    expect(total(all, "tracebill_records_skipped_total", l)).toBe(summary.skipped);
    expect(total(all, "tracebill_events_mapped_total", l)).toBe(summary.events);
    const ledger = (await stack!.ledger.totals("lago", new Date("2000-01-01T00:00:00Z"), new Date("2100-01-01T00:00:00Z"))).reduce((a, t) => a + t.events, 0);
    expect(ledger).toBeGreaterThan(0);
    expect(total(all, "tracebill_events_delivered_total", l)).toBe(ledger);
    expect(total(all, "tracebill_events_dead_lettered_total", l)).toBe(summary.dead);
    expect(total(all, "tracebill_destination_send_seconds_count", l)).toBeGreaterThan(0);
    expect(all.some((x) => x.name === "tracebill_queue_jobs" && x.labels.queue === "deliver-lago")).toBe(true);
    expect(all.some((x) => x.name === "process_resident_memory_bytes")).toBe(true);
  });

  it("has no dashboard unless configured (404)", async () => {
    const s = await start(false);
    expect((await fetch(`${s.url}/dashboard`)).status).toBe(404);
    expect((await fetch(`${s.url}/dashboard`, { headers: { authorization: basic(DASHBOARD.user, DASHBOARD.password) } })).status).toBe(404);
  });

  it("serves the bull-board dashboard behind basic auth: 401 without or with wrong credentials, 200 with the right ones", async () => {
    const s = await start(true);
    const get = (path: string, auth?: string) => fetch(`${s.url}${path}`, auth ? { headers: { authorization: auth } } : {});
    const none = await get("/dashboard");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Basic realm="tracebill dashboard"/);
    expect((await get("/dashboard", basic(DASHBOARD.user, "wrong-password"))).status).toBe(401);
    expect((await get("/dashboard", basic("someone", DASHBOARD.password))).status).toBe(401);
    expect((await get("/dashboard", basic(DASHBOARD.user, ""))).status).toBe(401);
    expect((await get("/dashboard", "Bearer abc")).status).toBe(401);
    expect((await get("/dashboard/api/queues", basic(DASHBOARD.user, "wrong-password"))).status).toBe(401);

    const page = await get("/dashboard", basic(DASHBOARD.user, DASHBOARD.password));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const api = await get("/dashboard/api/queues", basic(DASHBOARD.user, DASHBOARD.password));
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(["deliver-lago", "deliver-openmeter", "ingest"]);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
  });
});
