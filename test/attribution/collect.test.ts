import { beforeAll, describe, expect, it } from "vitest";
import { AttributionCollector, isWholeWindows, unattributedUsage, UNATTRIBUTED_CUSTOMER, withAllocations, type AllocationItem, type AttributionItem } from "../../src/attribution/index.js";
import { compileMappingTexts, evaluateRecord, formatProblem, type MappingSet } from "../../src/mapping/index.js";
import { traceRecord, usage } from "../mapping/factory.js";
import { config, itemsOf, llmTokens, shuffled } from "./helpers.js";

let set: MappingSet;
beforeAll(async () => {
  set = await llmTokens();
});

const at = (day: string, hh = "10") => ({ startTime: `${day}T${hh}:00:00.000Z`, endTime: `${day}T${hh}:00:01.000Z` });
const system = (id: string, over: Parameters<typeof traceRecord>[0] = {}) => traceRecord({ recordId: id, traceId: id, attributes: {}, ...over });

async function* stream<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const i of items) yield i;
}

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("unattributedUsage", () => {
  it("measures a no-customer record with the mapping's own policy (cache reads not billed, requested model)", () => {
    const r = system("sys-1", { modelRequested: "gpt-4o", modelExecuted: "gpt-4o-2024-08-06", usage: usage({ input: 1000, cacheRead: 300, output: 50 }), feature: "nightly-digest" });
    expect(evaluateRecord(set, r).skips.map((s) => s.code)).toEqual(["no-customer"]);
    const events = unattributedUsage(set, r);
    expect(events.map((e) => [e.customer, e.metric, e.properties.model, e.properties.type, e.value])).toEqual([
      [UNATTRIBUTED_CUSTOMER, "llm_tokens", "gpt-4o", "input", 700],
      [UNATTRIBUTED_CUSTOMER, "llm_tokens", "gpt-4o", "output", 50],
    ]);
    // The ids the call would be billed under with a tenant: a second copy that names one claims it.
    const attributed = evaluateRecord(set, { ...r, attributes: { tenant_id: "acme" } }).events;
    expect(events.map((e) => e.id)).toEqual(attributed.map((e) => e.id));
  });

  it("is empty for a record a rule skips (a cache hit is not billed to anyone)", () => {
    expect(unattributedUsage(set, system("sys-2", { cacheHit: true }))).toEqual([]);
  });

  it("only measures the mappings that found no customer", () => {
    const { set: two, problems } = compileMappingTexts([
      { file: "a.yaml", text: "name: by-tenant\ncustomer: record.attributes.tenant_id\nmetrics:\n  - metric: a\n    events:\n      - key: k\n        quantity: record.usage.input\n" },
      { file: "b.yaml", text: "name: by-user\ncustomer: record.userId\nmetrics:\n  - metric: b\n    events:\n      - key: k\n        quantity: record.usage.output\n" },
    ]);
    if (!two) throw new Error(problems.map(formatProblem).join("\n"));
    const events = unattributedUsage(two, system("sys-3", { userId: "u-1" }));
    expect(events.map((e) => [e.mapping, e.metric, e.value])).toEqual([["by-tenant", "a", 1000]]);
  });
});

describe("AttributionCollector", () => {
  it("sums activity per window/tenant/model and unattributed usage per window/model/type", () => {
    const c = new AttributionCollector(set, config());
    for (const item of itemsOf(set, [
      traceRecord({ recordId: "a1", ...at("2025-03-01"), attributes: { tenant_id: "acme" } }),
      traceRecord({ recordId: "a2", ...at("2025-03-01", "23"), attributes: { tenant_id: "acme" }, usage: usage({ input: 10, output: 5 }) }),
      traceRecord({ recordId: "g1", ...at("2025-03-02"), attributes: { tenant_id: "globex" }, modelRequested: "gpt-4o-mini" }),
      system("s1", at("2025-03-01")),
    ])) c.add(item);
    const got = c.collected();
    expect(got.activity).toEqual([
      { window: "2025-03-01", metric: "llm_tokens", tenant: "acme", model: "gpt-4o", quantity: 1215, calls: 0 },
      { window: "2025-03-02", metric: "llm_tokens", tenant: "globex", model: "gpt-4o-mini", quantity: 1200, calls: 0 },
    ]);
    expect(got.unattributed.map((u) => [u.window, u.model, u.type, u.quantity, u.records])).toEqual([
      ["2025-03-01", "gpt-4o", "input", 1000, 1],
      ["2025-03-01", "gpt-4o", "output", 200, 1],
    ]);
    expect(got.direct).toEqual([
      { tenant: "acme", metric: "llm_tokens", quantity: 1215, shared: false },
      { tenant: "globex", metric: "llm_tokens", quantity: 1200, shared: false },
    ]);
  });

  it("counts a call traced twice once, and an unattributed copy of an attributed call as attributed, in either order", () => {
    const gateway = system("gw-1", { responseId: "chatcmpl-1" });
    const sdk = traceRecord({ recordId: "sdk-1", responseId: "chatcmpl-1", attributes: { tenant_id: "acme" } });
    for (const order of [[gateway, sdk], [sdk, gateway], [gateway, gateway, sdk, sdk]]) {
      const c = new AttributionCollector(set, config());
      for (const item of itemsOf(set, order)) c.add(item);
      const got = c.collected();
      expect(got.unattributed).toEqual([]);
      expect(got.direct).toEqual([{ tenant: "acme", metric: "llm_tokens", quantity: 1200, shared: false }]);
    }
  });

  it("leaves out records whose trace never arrived (their tenant may come later) unless told otherwise", () => {
    const items = itemsOf(set, [traceRecord({ recordId: "a", attributes: { tenant_id: "acme" } }), [system("late", { traceId: "t-late", parentId: "p" }), false]]);
    const strict = new AttributionCollector(set, config());
    items.forEach((i) => strict.add(i));
    expect(strict.collected().unattributed).toEqual([]);
    expect(strict.collected().notCounted).toEqual([{ metric: "llm_tokens", quantity: 1200, records: 1, reason: "trace-unknown" }]);
    const loose = new AttributionCollector(set, config({ unattributed: { skipCodes: ["no-customer"], requireTraceContext: false, customers: [] } }));
    items.forEach((i) => loose.add(i));
    expect(loose.collected().unattributed.map((u) => u.quantity)).toEqual([1000, 200]);
  });

  it("reports no-customer skips that came without their record instead of guessing", () => {
    const c = new AttributionCollector(set, config());
    c.add({ kind: "skip", skip: { source_record_id: "x", reason: "llm-tokens: no customer", code: "no-customer" } });
    expect(c.collected().notCounted).toEqual([{ metric: "", quantity: 0, records: 1, reason: "unmeasured" }]);
  });

  it("treats a shared pseudo-tenant's usage as unattributed and withholds its events", () => {
    const c = new AttributionCollector(set, config({ unattributed: { skipCodes: ["no-customer"], requireTraceContext: true, customers: ["internal"] } }));
    const passed = itemsOf(set, [traceRecord({ recordId: "i1", attributes: { tenant_id: "internal" } }), traceRecord({ recordId: "a1", attributes: { tenant_id: "acme" } })]).map((i) => c.add(i));
    expect(passed).toEqual([false, false, true, true]);
    const got = c.collected();
    expect(got.unattributed.map((u) => [u.type, u.quantity])).toEqual([["input", 1000], ["output", 200]]);
    expect(got.direct).toEqual([
      { tenant: "acme", metric: "llm_tokens", quantity: 1200, shared: false },
      { tenant: "internal", metric: "llm_tokens", quantity: 1200, shared: true },
    ]);
    expect(got.activity.map((a) => a.tenant)).toEqual(["acme"]);
  });

  it("ignores metrics it does not allocate and usage outside the period", () => {
    const c = new AttributionCollector(set, config({ metrics: ["other"] }));
    itemsOf(set, [traceRecord(), system("s")]).forEach((i) => c.add(i));
    expect(c.collected()).toEqual({ activity: [], unattributed: [], direct: [], notCounted: [] });
    const p = new AttributionCollector(set, config(), { period: { from: "2025-03-02T00:00:00Z", to: "2025-03-03T00:00:00Z" } });
    itemsOf(set, [traceRecord(at("2025-03-01")), system("s", at("2025-03-01")), traceRecord({ recordId: "b", ...at("2025-03-02") })]).forEach((i) => p.add(i));
    expect(p.collected().unattributed).toEqual([]);
    expect(p.collected().direct.map((d) => d.quantity)).toEqual([1200]);
  });

  it("counts calls once per record when activity is measured in calls", () => {
    const c = new AttributionCollector(set, config({ activity: "calls" }));
    itemsOf(set, [traceRecord({ recordId: "a1" }), traceRecord({ recordId: "a2" }), traceRecord({ recordId: "a2" })]).forEach((i) => c.add(i));
    expect(c.collected().activity.map((a) => [a.tenant, a.calls, a.quantity])).toEqual([["acme", 2, 2400]]);
  });
});

describe("withAllocations", () => {
  const records = () => [
    traceRecord({ recordId: "a1", ...at("2025-03-01"), attributes: { tenant_id: "acme" }, usage: usage({ input: 300, output: 0 }) }),
    traceRecord({ recordId: "g1", ...at("2025-03-01"), attributes: { tenant_id: "globex" }, usage: usage({ input: 100, output: 0 }) }),
    system("s1", { ...at("2025-03-01"), usage: usage({ input: 1001, output: 0 }) }),
    system("s2", { ...at("2025-03-05"), usage: usage({ input: 9, output: 0 }) }),
  ];

  it("passes every item on, then adds allocation events and a note per total it could not allocate", async () => {
    const items = itemsOf(set, records());
    const out = await drain(withAllocations(stream(items), set, config({ model: "activity" })));
    expect(out.slice(0, items.length)).toEqual(items);
    const added = out.slice(items.length) as AllocationItem[];
    expect(added.map((i) => (i.kind === "event" ? [i.event.customer, i.event.value, i.event.properties.allocation] : i.note))).toEqual([
      ["acme", 751, "activity"],
      ["globex", 250, "activity"],
      "9 llm_tokens (gpt-4o input) in 2025-03-05 not allocated: no tenant activity in the window",
    ]);
  });

  it("a per-period allocation job: only the allocation events and notes of the period", async () => {
    const out = await drain(withAllocations(stream(itemsOf(set, records())), set, config({ model: "activity" }), { onlyAllocations: true, period: { from: "2025-03-01", to: "2025-03-02" }, scope: "job-1" }));
    expect(out.map((i) => (i.kind === "event" && "event" in i ? [i.event!.customer, i.event!.value] : i.kind))).toEqual([["acme", 751], ["globex", 250]]);
    expect(isWholeWindows("2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z", "day")).toBe(true);
    expect(isWholeWindows("2025-03-01T06:00:00Z", "2025-03-02T00:00:00Z", "day")).toBe(false);
    expect(isWholeWindows("2025-03-01T06:00:00Z", "2025-03-01T07:00:00Z", "hour")).toBe(true);
  });

  it("appended items carry the input's last position, so a batching consumer files them after everything read", async () => {
    const items = itemsOf(set, records()).map((i, n) => ({ ...i, at: { input: 0, item: n + 1 } }));
    const out = await drain(withAllocations(stream(items), set, config({ model: "activity" }), { onlyAllocations: true }));
    expect(out.map((i) => i.at)).toEqual(out.map(() => ({ input: 0, item: items.length })));
  });

  it("changes nothing under direct attribution", async () => {
    const items: AttributionItem[] = itemsOf(set, records());
    expect(await drain(withAllocations(stream(items), set, config({ model: "direct" })))).toEqual(items);
  });

  it("gives the same allocation events for any order of the records", async () => {
    const events = async (seed: number) =>
      (await drain(withAllocations(stream(itemsOf(set, shuffled(records(), seed))), set, config())))
        .filter((i): i is AllocationItem & { kind: "event" } => i.kind === "event" && "event" in i && i.event?.properties.allocated === true)
        .map((i) => i.event);
    const first = await events(1);
    expect(first.length).toBe(2);
    for (const seed of [2, 3, 4]) expect(await events(seed)).toEqual(first);
  });
});
