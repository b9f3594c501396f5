/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are JSON checked by value */
import { OpenMeter } from "@openmeter/sdk";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startSandbox, type Sandbox, type SandboxSeed } from "../../src/sandbox/index.js";

const seed: SandboxSeed = {
  openmeter: {
    meters: [
      { slug: "llm_tokens", eventType: "llm_tokens", aggregation: "SUM", valueProperty: "$.value", groupBy: { model: "$.model", type: "$.type" } },
      { slug: "llm_calls", eventType: "llm_tokens", aggregation: "COUNT", groupBy: { model: "$.model" } },
    ],
  },
};

const ce = (id: string, extra: Record<string, unknown> = {}) => ({
  specversion: "1.0",
  id,
  source: "tracebill",
  type: "llm_tokens",
  subject: "acme",
  time: "2024-07-10T10:00:00.900Z",
  data: { value: 10, model: "gpt-4o", type: "input" },
  ...extra,
});

describe("sandbox: OpenMeter API", () => {
  let sb: Sandbox;
  let post: (body: unknown, contentType: string, auth?: string) => Promise<{ status: number; body: any; contentType: string | null }>;
  let get: (path: string) => Promise<{ status: number; body: any }>;

  const start = async (dedupe = false) => {
    sb = await startSandbox({ seed, openmeterDedupe: dedupe });
    post = async (body, contentType, auth = `Bearer ${sb.openmeterApiKey}`) => {
      const res = await fetch(`${sb.openmeterUrl}/api/v1/events`, { method: "POST", headers: { "content-type": contentType, authorization: auth }, body: JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null, contentType: res.headers.get("content-type") };
    };
    get = async (path) => {
      const res = await fetch(`${sb.openmeterUrl}${path}`, { headers: { authorization: `Bearer ${sb.openmeterApiKey}` } });
      return { status: res.status, body: await res.json() };
    };
  };
  beforeEach(() => start());
  afterEach(() => sb.stop());

  it("answers 401 problem+json for a missing or wrong key", async () => {
    const res = await post([ce("a")], "application/cloudevents-batch+json", "Bearer nope");
    expect(res.status).toBe(401);
    expect(res.contentType).toBe("application/problem+json");
    expect(res.body).toMatchObject({ type: "about:blank", title: "Unauthorized", status: 401, instance: expect.stringMatching(/^urn:request:/) });
  });

  it("accepts exactly the three documented content types with 204", async () => {
    expect((await post(ce("a"), "application/cloudevents+json")).status).toBe(204);
    expect((await post([ce("b"), ce("c")], "application/cloudevents-batch+json")).status).toBe(204);
    expect((await post(ce("d"), "application/json")).status).toBe(204);
    expect((await post([ce("e")], "application/json")).status).toBe(204);
    expect(sb.state.openmeterEvents().map((e) => e.id)).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("compares the content type exactly: parameters or other types are a 400", async () => {
    for (const ct of ["application/json; charset=utf-8", "application/cloudevents-batch+json; charset=utf-8", "text/plain"]) {
      const res = await post([ce("a")], ct);
      expect(res.status).toBe(400);
      expect(res.contentType).toBe("application/problem+json");
      expect(res.body).toMatchObject({ title: "Bad Request", status: 400, detail: `invalid content type: ${ct}` });
    }
    expect(sb.state.openmeterEvents()).toEqual([]);
  });

  it("refuses the whole batch when one event misses a required field, and stores nothing", async () => {
    const { subject: _s, ...noSubject } = ce("b");
    for (const bad of [noSubject, ce("b", { subject: "" }), ce("b", { id: "" }), ce("b", { data: [1, 2] }), ce("b", { time: "yesterday" }), ce("b", { specversion: undefined })]) {
      const res = await post([ce("a"), bad, ce("c")], "application/cloudevents-batch+json");
      expect(res.status).toBe(400);
      expect(res.body.detail).toMatch(/\/1/);
    }
    expect((await post({ nope: true }, "application/cloudevents+json")).status).toBe(400);
    expect((await post(42, "application/json")).body.detail).toBe("invalid event: no events found");
    expect(sb.state.openmeterEvents()).toEqual([]);
  });

  it("stores every duplicate when dedupe is off (self-hosted default) and counts it twice", async () => {
    await post([ce("a"), ce("a")], "application/cloudevents-batch+json");
    await post([ce("a")], "application/cloudevents-batch+json");
    expect(sb.state.openmeterEvents()).toHaveLength(3);
    expect(sb.state.counts().openmeter).toMatchObject({ duplicatesStored: 2, duplicatesDropped: 0 });
    const q = await get("/api/v1/meters/llm_tokens/query?from=2024-07-10T00:00:00Z&to=2024-07-11T00:00:00Z");
    expect(q.body.data.map((r: any) => r.value)).toEqual([30]);
  });

  it("drops duplicates on source + id when dedupe is on, still answering 204", async () => {
    await sb.stop();
    await start(true);
    expect((await post([ce("a"), ce("a"), ce("a", { source: "other" })], "application/cloudevents-batch+json")).status).toBe(204);
    expect((await post([ce("a")], "application/cloudevents-batch+json")).status).toBe(204);
    expect(sb.state.openmeterEvents().map((e) => `${e.source}/${e.id}`)).toEqual(["tracebill/a", "other/a"]);
    expect(sb.state.counts().openmeter).toMatchObject({ duplicatesStored: 0, duplicatesDropped: 2 });
  });

  it("keeps event time to the second", async () => {
    await post([ce("a")], "application/cloudevents-batch+json");
    expect(sb.state.openmeterEvents()[0]!.time).toBe("2024-07-10T10:00:00Z");
  });

  it("queries meters over [from, to) at second precision, grouped by subject when filtered", async () => {
    await post(
      [
        ce("at-from", { time: "2024-07-10T10:00:00Z", data: { value: 1, model: "gpt-4o" } }),
        ce("inside", { time: "2024-07-10T10:30:00Z", data: { value: 2, model: "claude" } }),
        ce("just-before-to", { time: "2024-07-10T10:59:59.999Z", data: { value: 4, model: "gpt-4o" } }),
        ce("at-to", { time: "2024-07-10T11:00:00Z", data: { value: 8, model: "gpt-4o" } }),
        ce("other-subject", { subject: "globex", time: "2024-07-10T10:30:00Z", data: { value: 16, model: "gpt-4o" } }),
        ce("no-model", { time: "2024-07-10T10:30:00Z", data: { value: 32 } }),
        ce("not-a-number", { time: "2024-07-10T10:30:00Z", data: { value: "lots", model: "claude" } }),
      ],
      "application/cloudevents-batch+json",
    );
    const base = "/api/v1/meters/llm_tokens/query?from=2024-07-10T10:00:00Z&to=2024-07-10T11:00:00Z";
    const all = await get(base);
    expect(all.body.data).toHaveLength(1);
    expect(all.body.data[0]).toMatchObject({ value: 1 + 2 + 4 + 16 + 32, subject: null, groupBy: {} });
    expect(all.body).toMatchObject({ from: "2024-07-10T10:00:00.000Z", to: "2024-07-10T11:00:00.000Z" });

    const grouped = await get(`${base}&subject=acme&groupBy=model`);
    const byModel = Object.fromEntries(grouped.body.data.map((r: any) => [r.groupBy.model, { value: r.value, subject: r.subject }]));
    expect(byModel).toEqual({ "gpt-4o": { value: 5, subject: "acme" }, claude: { value: 2, subject: "acme" }, "": { value: 32, subject: "acme" } });

    const count = await get("/api/v1/meters/llm_calls/query?from=2024-07-10T10:00:00Z&to=2024-07-10T11:00:00Z&subject=acme");
    expect(count.body.data[0].value).toBe(5);

    const daily = await get("/api/v1/meters/llm_tokens/query?from=2024-07-01T00:00:00Z&to=2024-08-01T00:00:00Z&windowSize=DAY&subject=acme");
    expect(daily.body.data).toEqual([{ value: 1 + 2 + 4 + 8 + 32, windowStart: "2024-07-10T00:00:00Z", windowEnd: "2024-07-11T00:00:00Z", subject: "acme", groupBy: {} }]);
    expect(daily.body.windowSize).toBe("DAY");

    expect((await get(`${base}&groupBy=feature`)).status).toBe(400);
    expect((await get("/api/v1/meters/llm_tokens/query?from=2024-07-10T11:00:00Z&to=2024-07-10T11:00:00Z")).status).toBe(400);
    expect(await get("/api/v1/meters/nope/query")).toMatchObject({ status: 404, body: { status: 404, title: "Not Found" } });
  });

  it("lists events (v2) with exact filters and cursor pagination, newest first", async () => {
    const events = Array.from({ length: 5 }, (_, i) => ce(`e${i}`, { time: `2024-07-10T10:0${i}:00Z` }));
    await post([...events, ce("g", { subject: "globex" }), ce("x", { type: "unmetered" })], "application/cloudevents-batch+json");
    const filter = JSON.stringify({ subject: { $eq: "acme" }, type: { $eq: "llm_tokens" }, time: { $and: [{ $gte: "2024-07-10T10:01:00Z" }, { $lt: "2024-07-10T10:04:00Z" }] } });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await get(`/api/v2/events?limit=2&filter=${encodeURIComponent(filter)}${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((i: any) => i.event.id));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(["e3", "e2", "e1"]);
    expect(pages).toBe(2);
    const unmetered = await get(`/api/v2/events?filter=${encodeURIComponent(JSON.stringify({ id: { $eq: "x" } }))}`);
    expect(unmetered.body.items[0]).toMatchObject({ event: { id: "x", type: "unmetered" }, validationError: "no meter found for event type: unmetered" });
    const twoOps = await get(`/api/v2/events?filter=${encodeURIComponent(JSON.stringify({ time: { $gte: "2024-07-10T10:01:00Z", $lt: "2024-07-10T10:04:00Z" } }))}`);
    expect(twoOps).toMatchObject({ status: 400, body: { detail: "filter is invalid: multiple operators are set" } });
  });

  it("lists an accepted event at once by default, by id ($in) and source, as a sink confirms what it stored", async () => {
    await post([ce("a"), ce("b"), ce("c", { source: "other" })], "application/cloudevents-batch+json");
    const filter = JSON.stringify({ id: { $in: ["a", "c", "zz"] }, source: { $eq: "tracebill" }, time: { $and: [{ $gte: "2024-07-10T10:00:00Z" }, { $lt: "2024-07-10T10:00:01Z" }] } });
    const res = await get(`/api/v2/events?filter=${encodeURIComponent(filter)}`);
    expect(res.body.items.map((i: any) => i.event.id)).toEqual(["a"]);
  });

  it("with openmeterListLagMs, lists and meters an event only once the simulated Kafka → sink pipeline stored it", async () => {
    await sb.stop();
    sb = await startSandbox({ seed, openmeterListLagMs: 200 });
    const res = await fetch(`${sb.openmeterUrl}/api/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/cloudevents-batch+json", authorization: `Bearer ${sb.openmeterApiKey}` },
      body: JSON.stringify([ce("late")]),
    });
    expect(res.status).toBe(204);
    // Stored (what the state shows), not yet readable through the API.
    expect(sb.state.openmeterEvents().map((e) => e.id)).toEqual(["late"]);
    const list = async () => (await get(`/api/v2/events?filter=${encodeURIComponent(JSON.stringify({ id: { $eq: "late" } }))}`)).body.items.length;
    const sum = async () => (await get("/api/v1/meters/llm_tokens/query?from=2024-07-10T00:00:00Z&to=2024-07-11T00:00:00Z")).body.data.length;
    expect([await list(), await sum()]).toEqual([0, 0]);
    await new Promise((r) => setTimeout(r, 250));
    expect([await list(), await sum()]).toEqual([1, 1]);
  });

  it("is usable through the official SDK, which sends application/cloudevents-batch+json", async () => {
    const om = new OpenMeter({ baseUrl: sb.openmeterUrl, apiKey: sb.openmeterApiKey });
    await om.events.ingest([{ ...ce("sdk1"), time: new Date("2024-07-10T10:00:00Z") }]);
    expect(sb.state.requests({ destination: "openmeter", method: "POST" }).map((r) => r.contentType)).toEqual(["application/cloudevents-batch+json"]);
    expect((await om.meters.list())!.map((m) => m.slug)).toEqual(["llm_tokens", "llm_calls"]);
    expect((await om.meters.get("llm_tokens"))!.eventType).toBe("llm_tokens");
    const q = await om.meters.query("llm_tokens", { from: new Date("2024-07-10T00:00:00Z"), to: new Date("2024-07-11T00:00:00Z"), subject: ["acme"], groupBy: ["model"] });
    expect(q!.data).toMatchObject([{ value: 10, subject: "acme", groupBy: { model: "gpt-4o" } }]);
    const listed = await om.events.listV2({ filter: JSON.stringify({ id: { $eq: "sdk1" } }) });
    expect(listed!.items.map((i) => i.event.id)).toEqual(["sdk1"]);
    const err = await om.meters.get("nope").catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "HTTPError", status: 404 });
  });
});
