import { afterEach, describe, expect, it } from "vitest";
import type { Destination } from "../../src/model/index.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { createLagoSink } from "../../src/sinks/lago/lago-sink.js";
import { createOpenMeterSink } from "../../src/sinks/openmeter/openmeter-sink.js";
import type { BillingSink, SinkOutcome } from "../../src/sinks/sink.js";
import { billable, METRIC, sendUntilSettled, tally } from "./events.js";

const CUSTOMERS = ["acme", "globex", "initech"];
const DESTINATIONS: Destination[] = ["lago", "openmeter"];

const sinkFor = (sb: Sandbox, d: Destination, timeoutMs = 2000): BillingSink =>
  d === "lago"
    ? createLagoSink({ apiUrl: sb.lagoApiUrl, apiKey: sb.lagoApiKey, timeoutMs })
    : createOpenMeterSink({ url: sb.openmeterUrl, apiKey: sb.openmeterApiKey, timeoutMs, confirmDelaysMs: [0, 10, 30] });
const ingestPath = (d: Destination) => (d === "lago" ? "/events/batch" : "/api/v1/events");
const scopes = (outcomes: SinkOutcome[]) => [...new Set(outcomes.map((o) => (o.status === "retry" ? o.scope : o.status)))];
const events = (n: number) => Array.from({ length: n }, (_, i) => billable(i, { customer: CUSTOMERS[i % 3]!, subscription: `sub_${CUSTOMERS[i % 3]}` }));

describe.each(DESTINATIONS)("%s: outage signal", (d) => {
  let sb: Sandbox;
  afterEach(() => sb?.stop());
  const start = async (port = 0) => {
    sb = await startSandbox({ port, seed: demoSeed(CUSTOMERS, [METRIC]) });
    return sb;
  };
  const ingests = () => sb.state.requests({ destination: d, method: "POST", path: ingestPath(d) });

  it("answering 503 to everything: every event is a destination-scoped retry, after one request; probe says no until it recovers", async () => {
    await start();
    const sink = sinkFor(sb, d);
    expect(await sink.probe()).toBe(true);
    sb.setFaults({ [d]: { status5xx: 1, scope: "all" } });
    const batch = events(250);
    const outcomes = await sink.send(batch);
    expect(tally(outcomes)).toEqual({ retry: 250 });
    expect(scopes(outcomes)).toEqual(["destination"]);
    // The first request failed as a whole: the two other batches were not sent.
    expect(ingests()).toHaveLength(1);
    expect(outcomes[249]).toMatchObject({ reason: expect.stringMatching(/^not sent: (Lago|OpenMeter) is unavailable/) });
    expect(await sink.probe()).toBe(false);

    sb.setFaults({});
    expect(await sink.probe()).toBe(true);
    const r = await sendUntilSettled(sink, batch, 3);
    expect(r.pending).toEqual([]);
    expect(d === "lago" ? sb.state.counts().lago.events : sb.state.counts().openmeter.events).toBe(250);
    expect(sb.state.counts().openmeter.duplicatesStored).toBe(0);
  });

  it("stopped: connection refused is a destination-scoped retry; probe says no, then yes once it is back", async () => {
    await start();
    const port = Number(new URL(sb.url).port);
    const sink = sinkFor(sb, d);
    await sb.stop();
    const outcomes = await sink.send(events(150));
    expect(tally(outcomes)).toEqual({ retry: 150 });
    expect(scopes(outcomes)).toEqual(["destination"]);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringContaining("ECONNREFUSED") });
    expect(await sink.probe()).toBe(false);

    await start(port);
    expect(await sink.probe()).toBe(true);
    expect(tally(await sink.send(events(150)))).toEqual({ delivered: 150 });
  });

  it("sporadic failures stay event-scoped; three failed requests in a row make the destination failing until one passes", async () => {
    await start();
    const sink = sinkFor(sb, d);
    sb.setFaults({ [d]: { reset: 1 } });
    const seen: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      const [o] = await sink.send([billable(i, { subscription: "sub_acme" })]);
      seen.push(o!.status === "retry" ? o!.scope : o!.status);
    }
    expect(seen).toEqual(["event", "event", "destination", "destination"]);
    sb.setFaults({});
    expect(await sink.send([billable(10, { subscription: "sub_acme" })])).toEqual([{ status: "delivered" }]);
    sb.setFaults({ [d]: { reset: 1 } });
    const [o] = await sink.send([billable(11, { subscription: "sub_acme" })]);
    expect(o).toMatchObject({ status: "retry", scope: "event" });
  });

  it("rate limited: destination-scoped with the wait the destination asked for", async () => {
    await start();
    const sink = sinkFor(sb, d);
    sb.setFaults({ [d]: { status429: 1, retryAfterSeconds: 2 } });
    const outcomes = await sink.send(events(150));
    expect(outcomes.every((o) => o.status === "retry" && o.scope === "destination" && o.afterMs === 2000)).toBe(true);
    expect(ingests()).toHaveLength(1);
  });
});
