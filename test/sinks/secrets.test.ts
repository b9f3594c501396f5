import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError, type Destination } from "../../src/model/index.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { createSink } from "../../src/sinks/registry.js";
import { redact } from "../../src/sinks/secrets.js";
import { billable, METRIC, WINDOW } from "./events.js";

const SECRET = "sk_live/TOP+SECRET=42";
const DESTINATIONS: Destination[] = ["lago", "openmeter"];

/** Everything a caller could print: outcomes, health problems, read-back errors with their stack. */
async function everythingSaid(sb: Sandbox, d: Destination, url: string): Promise<string> {
  const sink = createSink(d, { url, apiKey: SECRET, timeoutMs: 2000 });
  const said: unknown[] = [];
  said.push(await sink.send([billable(0), billable(1, { customer: "globex" })]));
  said.push(await sink.healthcheck(["llm_tokens"], ["acme"]));
  const err = await sink.readTotals({ ...WINDOW, customers: ["acme"], metrics: [METRIC] }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  said.push(String(err), (err as Error).stack, (err as Error).cause);
  return JSON.stringify(said);
}

describe("API keys never appear in what a sink says", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    // The sandbox expects other keys, so every request with SECRET is refused.
    sb = await startSandbox({ seed: demoSeed(["acme", "globex"], [METRIC]) });
  });
  afterAll(() => sb.stop());

  it.each(DESTINATIONS)("%s: refused key", async (d) => {
    const text = await everythingSaid(sb, d, d === "lago" ? sb.lagoApiUrl : sb.openmeterUrl);
    expect(text).toMatch(/refused the API key/);
    for (const form of [SECRET, encodeURIComponent(SECRET), "TOP+SECRET"]) expect(text).not.toContain(form);
  });

  it.each(DESTINATIONS)("%s: unreachable destination", async (d) => {
    const down = await startSandbox();
    const url = d === "lago" ? down.lagoApiUrl : down.openmeterUrl;
    await down.stop();
    const text = await everythingSaid(sb, d, url);
    expect(text).toMatch(/network error/);
    expect(text).not.toContain("TOP+SECRET");
  });

  it.each(DESTINATIONS)("%s: a key fetch would choke on is refused up front, without quoting it", (d) => {
    for (const key of ["sk_live_TOPSECRET\n", "Bearer sk_live_TOPSECRET", "sk_live_TOPSECRET€", ""]) {
      let thrown: unknown;
      try {
        createSink(d, { url: "http://127.0.0.1:1", apiKey: key });
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(UserError);
      expect(String((thrown as Error).message)).not.toContain("TOPSECRET");
    }
  });

  it.each(DESTINATIONS)("%s: credentials in the URL are refused without quoting them", (d) => {
    let thrown: unknown;
    try {
      createSink(d, { url: "http://user:TOPSECRET@127.0.0.1:1/", apiKey: "k" });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(UserError);
    expect((thrown as Error).message).not.toContain("TOPSECRET");
  });

  it("redact removes raw, JSON-escaped and URI-encoded forms", () => {
    const s = 'a"b/c';
    expect(redact(`x ${s} ${JSON.stringify(s)} ${encodeURIComponent(s)}`, [s])).toBe('x [redacted] "[redacted]" [redacted]');
    expect(redact("nothing here", ["", "zzz"])).toBe("nothing here");
  });
});

describe("createSink", () => {
  it("builds each destination's sink from the shared config shape", async () => {
    const sb = await startSandbox({ seed: demoSeed(["acme"], [METRIC]) });
    try {
      const lago = createSink("lago", { url: sb.lagoApiUrl, apiKey: sb.lagoApiKey });
      const om = createSink("openmeter", { url: sb.openmeterUrl, apiKey: sb.openmeterApiKey });
      expect([lago.kind, om.kind]).toEqual(["lago", "openmeter"]);
      expect([lago.limits.maxBatchSize, om.limits.maxBatchSize]).toEqual([100, 100]);
      expect(await lago.send([billable(0)])).toEqual([{ status: "delivered" }]);
      expect(await om.send([billable(0)])).toEqual([{ status: "delivered" }]);
    } finally {
      await sb.stop();
    }
  });
});
