/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are JSON checked by value */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { demoSeed, runSandboxStandalone, startSandbox, type FaultPlan, type Sandbox } from "../../src/sandbox/index.js";

const seed = demoSeed(["acme"], [{ metric: "llm_tokens", valueProperty: "value" }]);
const lagoEvent = (id: string) => ({ transaction_id: id, external_subscription_id: "sub_acme", code: "llm_tokens", timestamp: 1720605600, properties: { value: 1 } });
const cloudEvent = (id: string) => ({ specversion: "1.0", id, source: "tracebill", type: "llm_tokens", subject: "acme", time: "2024-07-10T10:00:00Z", data: { value: 1 } });

describe("sandbox: faults", () => {
  let sb: Sandbox;
  const lagoBatch = (ids: string[]) =>
    fetch(`${sb.lagoApiUrl}/api/v1/events/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${sb.lagoApiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ events: ids.map(lagoEvent) }),
    });
  const omBatch = (ids: string[]) =>
    fetch(`${sb.openmeterUrl}/api/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${sb.openmeterApiKey}`, "content-type": "application/cloudevents-batch+json" },
      body: JSON.stringify(ids.map(cloudEvent)),
    });
  const statuses = async (n: number) => {
    const out: (number | string)[] = [];
    for (let i = 0; i < n; i++) out.push(await lagoBatch([`s${i}`]).then((r) => r.status, () => "reset"));
    return out;
  };

  beforeEach(async () => {
    sb = await startSandbox({ seed });
  });
  afterEach(() => sb.stop());

  it("injects the same faults for the same seed and request sequence", async () => {
    const plan: FaultPlan = { seed: 7, lago: { status5xx: 0.25, status429: 0.25, reset: 0.2 } };
    sb.setFaults(plan);
    const first = await statuses(30);
    sb.reset();
    sb.setFaults(plan);
    const second = await statuses(30);
    expect(second).toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 503, 429, "reset"]));
    const other = await startSandbox({ seed, faults: plan });
    try {
      const url = other.lagoApiUrl;
      const third: (number | string)[] = [];
      for (let i = 0; i < 30; i++) {
        third.push(
          await fetch(`${url}/api/v1/events/batch`, {
            method: "POST",
            headers: { authorization: `Bearer ${other.lagoApiKey}`, "content-type": "application/json" },
            body: JSON.stringify({ events: [lagoEvent(`s${i}`)] }),
          }).then((r) => r.status, () => "reset"),
        );
      }
      expect(third).toEqual(first);
    } finally {
      await other.stop();
    }
  });

  it("answers Lago 429s with X-RateLimit headers and OpenMeter 429s with Retry-After", async () => {
    sb.setFaults({ lago: { status429: 1, retryAfterSeconds: 3 }, openmeter: { status429: 1, retryAfterSeconds: 4 } });
    const lago = await lagoBatch(["a"]);
    expect(lago.status).toBe(429);
    expect({ limit: lago.headers.get("x-ratelimit-limit"), remaining: lago.headers.get("x-ratelimit-remaining"), reset: lago.headers.get("x-ratelimit-reset") }).toEqual({ limit: "500", remaining: "0", reset: "3" });
    expect(lago.headers.get("retry-after")).toBeNull();
    const om = await omBatch(["a"]);
    expect(om.status).toBe(429);
    expect(om.headers.get("retry-after")).toBe("4");
    expect(om.headers.get("content-type")).toBe("application/problem+json");
    expect(((await om.json()) as any).status).toBe(429);
    expect(sb.state.counts()).toMatchObject({ lago: { events: 0, faults: { status429: 1 } }, openmeter: { events: 0, faults: { status429: 1 } } });
  });

  it("answers 503 with the vendor's error body, and 502 with a proxy's HTML page", async () => {
    sb.setFaults({ lago: { status5xx: 1 }, openmeter: { html502: 1 } });
    const lago = await lagoBatch(["a"]);
    expect(lago.status).toBe(503);
    expect(await lago.json()).toEqual({ status: 503, error: "Service Unavailable" });
    const om = await omBatch(["a"]);
    expect(om.status).toBe(502);
    expect(om.headers.get("content-type")).toBe("text/html");
    expect(await om.text()).toMatch(/<html>/);
    expect(sb.state.lagoEvents()).toEqual([]);
    expect(sb.state.openmeterEvents()).toEqual([]);
  });

  it("resets the connection without answering", async () => {
    sb.setFaults({ openmeter: { reset: 1 } });
    const err = await omBatch(["a"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(sb.state.requests({ destination: "openmeter" })).toMatchObject([{ status: "reset", fault: "reset", events: 1 }]);
    expect(sb.state.openmeterEvents()).toEqual([]);
  });

  it("accept-then-500: Lago commits the whole batch, OpenMeter stores its first half", async () => {
    sb.setFaults({ lago: { acceptThen500: 1 }, openmeter: { acceptThen500: 1 } });
    const lago = await lagoBatch(["a", "b", "c"]);
    expect(lago.status).toBe(500);
    expect(sb.state.lagoEvents().map((e) => e.transaction_id)).toEqual(["a", "b", "c"]);
    sb.setFaults({});
    const again = await lagoBatch(["a", "b", "c"]);
    expect(again.status).toBe(422);
    expect(((await again.json()) as any).error_details).toEqual({ "0": { transaction_id: ["value_already_exist"] }, "1": { transaction_id: ["value_already_exist"] }, "2": { transaction_id: ["value_already_exist"] } });

    sb.setFaults({ openmeter: { acceptThen500: 1 } });
    const om = await omBatch(["1", "2", "3", "4"]);
    expect(om.status).toBe(500);
    expect(await om.json()).toMatchObject({ status: 500, detail: "" });
    expect(sb.state.openmeterEvents().map((e) => e.id)).toEqual(["1", "2"]);
  });

  it("accept-then-reset: Lago commits the batch and OpenMeter stores all of it, then the socket dies unanswered", async () => {
    sb.setFaults({ lago: { acceptThenReset: 1 }, openmeter: { acceptThenReset: 1 } });
    expect(await lagoBatch(["a", "b"]).catch((e: unknown) => e)).toBeInstanceOf(TypeError);
    expect(await omBatch(["1", "2", "3"]).catch((e: unknown) => e)).toBeInstanceOf(TypeError);
    expect(sb.state.lagoEvents().map((e) => e.transaction_id)).toEqual(["a", "b"]);
    expect(sb.state.openmeterEvents().map((e) => e.id)).toEqual(["1", "2", "3"]);
    expect(sb.state.requests()).toMatchObject([
      { destination: "lago", status: "reset", fault: "acceptThenReset", events: 2 },
      { destination: "openmeter", status: "reset", fault: "acceptThenReset", events: 3 },
    ]);
    expect(sb.state.counts()).toMatchObject({ lago: { faults: { acceptThenReset: 1 } }, openmeter: { faults: { acceptThenReset: 1 } } });
  });

  it("keeps the fault sequence of existing plans now that acceptThenReset is drawn last", async () => {
    const plan: FaultPlan = { seed: 7, lago: { status5xx: 0.25, status429: 0.25, reset: 0.2 } };
    sb.setFaults(plan);
    const before = await statuses(20);
    sb.reset();
    sb.setFaults({ ...plan, lago: { ...plan.lago, acceptThenReset: 0.1 } });
    const after = await statuses(20);
    // Draws below the old edges fault the same way; draws past them may now reset after a commit.
    after.forEach((s, i) => {
      if (before[i] !== 200) expect(s).toBe(before[i]);
    });
  });

  it("faults only ingestion unless scoped to all requests, and stops after the limit", async () => {
    sb.setFaults({ lago: { status5xx: 1, limit: 1 } });
    const subs = () => fetch(`${sb.lagoApiUrl}/api/v1/subscriptions`, { headers: { authorization: `Bearer ${sb.lagoApiKey}` } }).then((r) => r.status);
    expect(await subs()).toBe(200);
    expect((await lagoBatch(["a"])).status).toBe(503);
    expect((await lagoBatch(["a"])).status).toBe(200);
    sb.setFaults({ lago: { status5xx: 1, scope: "all" } });
    expect(await subs()).toBe(503);
  });

  it("is driven by other processes through the admin endpoints", async () => {
    const bad = await fetch(`${sb.url}/_sandbox/faults`, { method: "POST", body: JSON.stringify({ lago: { status5xx: 2 } }) });
    expect(bad.status).toBe(400);
    const ok = await fetch(`${sb.url}/_sandbox/faults`, { method: "POST", body: JSON.stringify({ seed: 3, lago: { status429: 1, limit: 1 } }) });
    expect(ok.status).toBe(200);
    expect((await lagoBatch(["a"])).status).toBe(429);
    expect((await lagoBatch(["a"])).status).toBe(200);
    const state = (await (await fetch(`${sb.url}/_sandbox/state`)).json()) as any;
    expect(state.lago).toMatchObject({ events: 1, requests: 2, byRoute: { "POST /events/batch": 2 }, faults: { status429: 1 } });
    expect((await fetch(`${sb.url}/_sandbox/reset`, { method: "POST" })).status).toBe(204);
    expect(sb.state.counts().lago).toMatchObject({ events: 0, requests: 0 });
  });
});

describe("sandbox: standalone", () => {
  it("prints its settings and stops when asked", async () => {
    const lines: string[] = [];
    const ctl = new AbortController();
    let url = "";
    const done = runSandboxStandalone({ print: (l) => lines.push(l), signal: ctl.signal, onReady: (s) => (url = s.url) });
    await expect.poll(() => url).not.toBe("");
    expect((await fetch(`${url}/_sandbox/state`)).status).toBe(200);
    ctl.abort();
    await done;
    expect(lines.join("\n")).toContain(`LAGO_API_URL=${url}/lago`);
    expect(lines.join("\n")).toContain(`OPENMETER_URL=${url}/openmeter`);
    expect(lines.at(-1)).toBe("tracebill sandbox stopped");
    await expect(fetch(`${url}/_sandbox/state`)).rejects.toThrow();
  });

  it("stops on SIGTERM as a separate process", async () => {
    const main = fileURLToPath(new URL("./standalone-main.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", main], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await expect.poll(() => out, { timeout: 20_000 }).toContain("OPENMETER_URL=");
    const url = /listening on (\S+)/.exec(out)![1]!;
    expect((await fetch(`${url}/_sandbox/state`)).status).toBe(200);
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
    expect(out).toContain("tracebill sandbox stopped");
  });
});
