import { afterEach, describe, expect, it } from "vitest";
import { demoSeed, startSandbox, type FaultPlan, type Sandbox, type SandboxOptions } from "../../src/sandbox/index.js";
import { createOpenMeterSink, type OpenMeterSinkConfig } from "../../src/sinks/openmeter/openmeter-sink.js";
import { billable, expectedTotals, METRIC, sendUntilSettled, sortTotals, tally } from "./events.js";

const CUSTOMERS = ["acme", "globex", "initech"];

/**
 * Self-hosted OpenMeter stores every copy (the sandbox's default, dedupe off), so a whole-batch
 * re-send after a partial store would count events twice. These tests hold the sink to one copy.
 */
describe("OpenMeter: exactly one stored copy per event despite partial stores", () => {
  let sb: Sandbox;
  afterEach(() => sb?.stop());

  const start = async (faults: FaultPlan = {}, opts: SandboxOptions = {}) => {
    sb = await startSandbox({ seed: demoSeed(CUSTOMERS, [METRIC]), faults, ...opts });
    return sb;
  };
  const sinkFor = (over: Partial<OpenMeterSinkConfig> = {}) =>
    createOpenMeterSink({ url: sb.openmeterUrl, apiKey: sb.openmeterApiKey, confirmDelaysMs: [0, 10, 30], ...over });
  const events = (n: number) => Array.from({ length: n }, (_, i) => billable(i, { customer: CUSTOMERS[i % 3]! }));
  const ingestRequests = () => sb.state.requests({ destination: "openmeter", method: "POST", path: "/api/v1/events" });
  const lookups = () => sb.state.requests({ destination: "openmeter", method: "GET", path: "/api/v2/events" });

  it("accept-then-500 on the first request of a 100-event batch: after the retry every event is stored exactly once", async () => {
    await start({ openmeter: { acceptThen500: 1, limit: 1 } });
    const sink = sinkFor();
    const batch = events(100);
    const first = await sink.send(batch);
    // The server forwarded the first half before failing; the lookup by id proves which.
    expect(tally(first)).toEqual({ delivered: 50, retry: 50 });
    expect(first.slice(0, 50).every((o) => o.status === "delivered")).toBe(true);
    expect(first[50]).toMatchObject({ status: "retry", scope: "event", reason: expect.stringContaining("50 of 100 confirmed stored by id") });
    expect(lookups()).toHaveLength(3);

    const leftovers = batch.filter((_, i) => first[i]!.status === "retry");
    expect(tally(await sink.send(leftovers))).toEqual({ delivered: 50 });
    expect(ingestRequests().map((r) => r.events)).toEqual([100, 50]);
    expect(sb.state.counts().openmeter).toMatchObject({ events: 100, duplicatesStored: 0 });
    expect(sortTotals(sb.state.openmeterTotals())).toEqual(expectedTotals(batch));
  });

  it("a reset after OpenMeter stored the whole batch: all confirmed delivered, nothing re-sent", async () => {
    await start({ openmeter: { acceptThenReset: 1, limit: 1 } });
    const sink = sinkFor();
    const batch = events(100);
    expect(tally(await sink.send(batch))).toEqual({ delivered: 100 });
    // One lookup found all 100: no more waiting.
    expect(lookups()).toHaveLength(1);
    expect(ingestRequests()).toHaveLength(1);
    expect(sb.state.counts().openmeter).toMatchObject({ events: 100, duplicatesStored: 0 });
  });

  it("pages through the lookup when OpenMeter already holds more copies than one page", async () => {
    await start();
    const batch = events(100);
    // Two copies of each, as a sink without confirmation would leave them after a blind re-send.
    const blind = sinkFor({ confirmAfterFailure: false });
    await blind.send(batch);
    await blind.send(batch);
    expect(sb.state.counts().openmeter.duplicatesStored).toBe(100);
    // Another process retries the batch, knowing it may have been sent: 200 matches, 2 pages.
    expect(tally(await sinkFor().send(batch, { maybeSent: true }))).toEqual({ delivered: 100 });
    expect(lookups()).toHaveLength(2);
    expect(ingestRequests()).toHaveLength(2);
  });

  describe("ingestion lag (events listable only once Kafka and the sink worker stored them)", () => {
    const LAG = 300;

    it("a miss is looked up again before the re-send: nothing is counted twice", async () => {
      await start({ openmeter: { acceptThen500: 1, limit: 1 } }, { openmeterListLagMs: LAG });
      const sink = sinkFor({ confirmDelaysMs: [0] });
      const batch = events(100);
      // The stored half is not listable yet: every event comes back as retry.
      expect(tally(await sink.send(batch))).toEqual({ retry: 100 });
      await new Promise((r) => setTimeout(r, LAG + 100));
      const again = await sink.send(batch);
      expect(tally(again)).toEqual({ delivered: 100 });
      expect(ingestRequests().map((r) => r.events)).toEqual([100, 50]);
      expect(sb.state.counts().openmeter).toMatchObject({ events: 100, duplicatesStored: 0 });
    });

    it("a confirmation wait longer than the lag settles it in the same send", async () => {
      await start({ openmeter: { acceptThen500: 1, limit: 1 } }, { openmeterListLagMs: LAG });
      const sink = sinkFor({ confirmDelaysMs: [0, LAG + 100] });
      const first = await sink.send(events(100));
      expect(tally(first)).toEqual({ delivered: 50, retry: 50 });
      expect(lookups()).toHaveLength(2);
    });

    it("residual risk: another process re-sending blind before a lookup can see the events counts them twice; maybeSent prevents it", async () => {
      await start({ openmeter: { acceptThen500: 1, limit: 1 } }, { openmeterListLagMs: LAG });
      const batch = events(100);
      expect(tally(await sinkFor({ confirmDelaysMs: [0] }).send(batch))).toEqual({ retry: 100 });
      // A fresh sink (the job re-run by another worker) has no suspects and is not told.
      await sinkFor().send(batch);
      expect(sb.state.counts().openmeter.duplicatesStored).toBe(50);

      await sb.stop();
      await start({ openmeter: { acceptThen500: 1, limit: 1 } }, { openmeterListLagMs: LAG });
      expect(tally(await sinkFor({ confirmDelaysMs: [0] }).send(batch))).toEqual({ retry: 100 });
      await new Promise((r) => setTimeout(r, LAG + 100));
      // Told that the batch may have been sent (a retried job), it looks first.
      expect(tally(await sinkFor().send(batch, { maybeSent: true }))).toEqual({ delivered: 100 });
      expect(sb.state.counts().openmeter).toMatchObject({ events: 100, duplicatesStored: 0 });
    });
  });

  it("confirmAfterFailure: false never looks up, and a re-send after a partial store counts the stored half twice", async () => {
    await start({ openmeter: { acceptThen500: 1, limit: 1 } });
    const sink = sinkFor({ confirmAfterFailure: false });
    const batch = events(4);
    const first = await sink.send(batch);
    expect(tally(first)).toEqual({ retry: 4 });
    expect(first[0]).toMatchObject({ reason: expect.stringContaining("not confirmed (confirmAfterFailure is off): a re-send may count stored events twice") });
    expect(tally(await sink.send(batch))).toEqual({ delivered: 4 });
    expect(lookups()).toEqual([]);
    expect(sb.state.counts().openmeter.duplicatesStored).toBe(2);
  });

  it("holds back a suspect while OpenMeter cannot be asked, instead of re-sending it blind", async () => {
    await start({ openmeter: { acceptThen500: 1, limit: 1 } }, { openmeterListLagMs: 10_000 });
    const sink = sinkFor({ confirmDelaysMs: [0] });
    const batch = events(4);
    expect(tally(await sink.send(batch))).toEqual({ retry: 4 });
    // The event API now fails (reads included); nothing may be re-sent until a lookup works.
    sb.setFaults({ openmeter: { acceptThen500: 1, scope: "all" } });
    const held = await sink.send(batch);
    expect(held.every((o) => o.status === "retry" && o.reason.startsWith("held back: it may already be stored"))).toBe(true);
    expect(ingestRequests()).toHaveLength(1);
  });

  it("1 invalid event among 100: 99 delivered in one request, 1 rejected with the reason OpenMeter's validator gives", async () => {
    await start();
    const batch = events(100);
    batch[42] = billable(42, { customer: "" });
    const outcomes = await sinkFor().send(batch);
    expect(tally(outcomes)).toEqual({ delivered: 99, rejected: 1 });
    expect(outcomes[42]).toEqual({ status: "rejected", reason: "invalid CloudEvent: subject is empty" });
    expect(ingestRequests().map((r) => r.events)).toEqual([99]);
    expect(sb.state.openmeterEvents()).toHaveLength(99);
  });

  it.each([
    ["faults on ingestion only", { seed: 11, openmeter: { status5xx: 0.2, status429: 0.1, acceptThen500: 0.05, reset: 0.05, slowMs: 5, retryAfterSeconds: 0 } }],
    [
      "faults on every request, lookups included, and resets after a full store",
      { seed: 12, openmeter: { status5xx: 0.15, html502: 0.05, status429: 0.1, acceptThen500: 0.05, reset: 0.05, acceptThenReset: 0.05, slowMs: 5, retryAfterSeconds: 0, scope: "all" as const } },
    ],
  ])("storm over 2,000 events (%s): zero duplicates, exact totals", async (_name, faults) => {
    await start(faults);
    const sink = sinkFor();
    const batch = events(2000);
    const r = await sendUntilSettled(sink, batch);
    expect(r.pending).toEqual([]);
    expect([...r.final.values()].every((o) => o.status === "delivered")).toBe(true);
    const counts = sb.state.counts().openmeter;
    expect(counts.duplicatesStored).toBe(0);
    expect(counts.events).toBe(2000);
    expect(sortTotals(sb.state.openmeterTotals())).toEqual(expectedTotals(batch));
    // The storm did happen, partial stores included.
    expect(counts.faults.acceptThen500 ?? 0).toBeGreaterThan(0);
    expect((counts.faults.status5xx ?? 0) + (counts.faults.reset ?? 0) + (counts.faults.status429 ?? 0)).toBeGreaterThan(10);
    expect(r.retries.some((o) => o.status === "retry" && o.scope === "destination")).toBe(true);
  }, 60_000);
});
