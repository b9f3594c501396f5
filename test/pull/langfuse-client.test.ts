import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/pull/clock.js";
import { PullApiError } from "../../src/pull/http.js";
import { LangfuseClient, OBSERVATION_FIELD_GROUPS } from "../../src/pull/langfuse-client.js";
import { langfusePullSource } from "../../src/pull/sources.js";
import { startLangfuseStandin, type LangfuseStandin, type LangfuseStandinOptions } from "../../src/pull/standin/index.js";
import { HOUR, MINUTE, NOW, generations, langfuseTraces, pages, tuning } from "./helpers.js";

const W0 = Date.parse("2026-11-20T09:00:00Z");
const WINDOW = { from: W0, to: W0 + HOUR };

describe("LangfuseClient against the Langfuse stand-in (real HTTP)", () => {
  let standin: LangfuseStandin | undefined;
  afterEach(async () => {
    await standin?.stop();
    standin = undefined;
  });

  async function setup(opts: LangfuseStandinOptions = {}, extra: Partial<ConstructorParameters<typeof LangfuseClient>[0]> = {}) {
    const clock = new ManualClock(NOW);
    standin = await startLangfuseStandin({ now: () => clock.now(), ...opts });
    const client = new LangfuseClient({ ...tuning(clock), host: standin.url, publicKey: standin.publicKey, secretKey: standin.secretKey, ...extra });
    return { clock, standin, client };
  }

  it("pages observations by cursor: every item of the window once, none outside, ties at one startTime included", async () => {
    const inside = generations(23, W0, 2 * MINUTE);
    // Ten observations share one startTime across a page boundary: the cursor's (traceId, id) tie-break must hold.
    const tied = generations(10, W0 + 30 * MINUTE, 0, { prefix: "tied", perTrace: 3 });
    const outside = [...generations(3, W0 - MINUTE, -MINUTE, { prefix: "before" }), ...generations(3, W0 + HOUR, MINUTE, { prefix: "after" })];
    const { client, standin: s } = await setup({ observations: [...inside, ...tied, ...outside] }, { observationPageSize: 4 });

    const got = await pages(client.observations(WINDOW));
    const ids = got.flat().map((o) => o.id);
    expect(got.length).toBe(9);
    expect(got.every((p) => p.length <= 4)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual([...inside, ...tied].map((o) => o.id as string).sort());

    const q = new URLSearchParams(s.log[0]!.query);
    expect(q.get("fromStartTime")).toBe("2026-11-20T09:00:00.000Z");
    expect(q.get("toStartTime")).toBe("2026-11-20T10:00:00.000Z");
    expect(q.get("fields")!.split(",")).toEqual([...OBSERVATION_FIELD_GROUPS]);
    expect(s.log.slice(1).every((r) => new URLSearchParams(r.query).get("cursor"))).toBe(true);
  });

  it("gets the billing fields (usage, model, metadata, trace context) and not the io payloads", async () => {
    const [o] = generations(1, W0, 0);
    const { client } = await setup({ observations: [{ ...o, input: "a long prompt", output: "a long answer", tags: ["prod"], promptName: "p" }] });
    const got = (await pages(client.observations(WINDOW))).flat()[0];
    expect(got).toMatchObject({ usageDetails: { input: 100 }, providedModelName: "gpt-4o-mini", metadata: { tenant_id: "acme" }, tags: ["prod"], level: "DEFAULT" });
    expect(got).not.toHaveProperty("input");
    expect(got).not.toHaveProperty("promptName");
  });

  it("pages traces by page/limit with fromTimestamp inclusive and toTimestamp exclusive", async () => {
    const ids = Array.from({ length: 230 }, (_, i) => `t-${i}`);
    const traces = langfuseTraces(ids, (i) => W0 + i * 10_000);
    const edge = langfuseTraces(["at-to", "before-from"], (i) => (i === 0 ? W0 + HOUR : W0 - 1));
    const { client, standin: s } = await setup({ traces: [...traces, ...edge] });
    const got = await pages(client.traces(WINDOW));
    expect(got.map((p) => p.length)).toEqual([100, 100, 30]);
    expect(got.flat().map((t) => t.id).sort()).toEqual([...ids].sort());
    expect(got.flat()[0]).toHaveProperty("metadata", { tenant_id: "acme" });
    expect(s.log.map((r) => new URLSearchParams(r.query).get("page"))).toEqual(["1", "2", "3"]);
    expect(new URLSearchParams(s.log[0]!.query).get("fields")).toBe("core,io");
  });

  it("honours 429 Retry-After: the retry reaches the server no earlier than announced", async () => {
    const { client, standin: s, clock } = await setup({ observations: generations(6, W0, MINUTE) }, { observationPageSize: 2 });
    s.failNext({ status: 429, retryAfter: "7", path: "/v2/observations" });
    const got = await pages(client.observations(WINDOW));
    expect(got.flat()).toHaveLength(6);
    expect(s.log.map((r) => r.status)).toEqual([429, 200, 200, 200]);
    expect(s.log[1]!.at - s.log[0]!.at).toBeGreaterThanOrEqual(7000);
    expect(new URLSearchParams(s.log[1]!.query).get("cursor")).toBeNull();
    expect(clock.sleeps.some((ms) => ms >= 7000)).toBe(true);
  });

  it("retries 5xx with growing backoff, then carries on from the same cursor", async () => {
    const notices: number[] = [];
    const { client, standin: s } = await setup({ observations: generations(4, W0, MINUTE) }, { observationPageSize: 2, onRetry: (n) => notices.push(n.waitMs) });
    const gen = client.observations(WINDOW);
    const first = await gen.next();
    expect(first.value).toHaveLength(2);
    s.failNext({ status: 503, times: 2 });
    const rest = await pages({ [Symbol.asyncIterator]: () => gen });
    expect([first.value, ...rest].flat().map((o) => o!.id).sort()).toEqual(["obs-0000", "obs-0001", "obs-0002", "obs-0003"]);
    expect(s.log.map((r) => r.status)).toEqual([200, 503, 503, 200]);
    const cursors = s.log.slice(1).map((r) => new URLSearchParams(r.query).get("cursor"));
    expect(new Set(cursors).size).toBe(1);
    expect(cursors[0]).toBeTruthy();
    // Equal jitter at random 0.5: three quarters of 1 s, then of 2 s.
    expect(notices).toEqual([750, 1500]);
  });

  it("keeps under the configured requests per minute, counted on the server's clock", async () => {
    const { client, standin: s } = await setup(
      { observations: generations(60, W0, MINUTE), rateLimitPerMinute: 10 },
      { observationPageSize: 2, requestsPerMinute: 10 },
    );
    const got = await pages(client.observations(WINDOW));
    expect(got.flat()).toHaveLength(60);
    expect(s.log.every((r) => r.status === 200)).toBe(true);
    const perMinute = new Map<number, number>();
    for (const r of s.log) perMinute.set(Math.floor(r.at / 60_000), (perMinute.get(Math.floor(r.at / 60_000)) ?? 0) + 1);
    expect(Math.max(...perMinute.values())).toBeLessThanOrEqual(10);
    for (const r of s.log) expect(s.log.filter((x) => x.at >= r.at && x.at < r.at + 60_000).length).toBeLessThanOrEqual(10);
  });

  it("a client allowed more than the server grants waits for the announced reset once X-RateLimit-Remaining hits 0", async () => {
    const { client, standin: s } = await setup({ observations: generations(40, W0, MINUTE), rateLimitPerMinute: 5 }, { observationPageSize: 2, requestsPerMinute: 600 });
    const ids = (await pages(client.observations(WINDOW))).flat().map((o) => o.id);
    expect(new Set(ids).size).toBe(40);
    // The budget headers alone keep it within the server's window: no request is spent on a 429.
    expect(s.log.every((r) => r.status === 200)).toBe(true);
    const perMinute = new Map<number, number>();
    for (const r of s.log) perMinute.set(Math.floor(r.at / 60_000), (perMinute.get(Math.floor(r.at / 60_000)) ?? 0) + 1);
    expect([...perMinute.values()].every((n) => n <= 5)).toBe(true);
  });

  it("fails at once on bad credentials, with a hint and without the secret, even when the server echoes it", async () => {
    const { standin: s } = await setup({ echoCredentialsOnAuthError: true });
    const clock = new ManualClock(NOW);
    const wrong = "sk-lf-this-is-the-wrong-secret";
    const client = new LangfuseClient({ ...tuning(clock), host: s.url, publicKey: s.publicKey, secretKey: wrong });
    const err = await pages(client.observations(WINDOW)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PullApiError);
    const e = err as PullApiError;
    expect(e.status).toBe(401);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/^Langfuse GET \/api\/public\/v2\/observations failed: 401 Unauthorized/);
    expect(e.message).toContain("LANGFUSE_SECRET_KEY");
    expect(e.message).not.toContain(wrong);
    expect(e.message).not.toContain(Buffer.from(`${s.publicKey}:${wrong}`).toString("base64"));
    expect(e.message).toContain("[redacted]");
    expect(s.log).toHaveLength(1);
  });

  it("gives up after the configured attempts on a server that keeps failing, and on an unreachable host", async () => {
    const { client, standin: s } = await setup({ observations: generations(2, W0, MINUTE) }, { maxAttempts: 3 });
    s.failNext({ status: 502, times: 10, body: { message: `upstream said ${s.secretKey}` } });
    const err = (await pages(client.observations(WINDOW)).catch((e: unknown) => e)) as PullApiError;
    expect(err.message).toMatch(/failed after 3 attempts: 502 Bad Gateway/);
    expect(err.message).not.toContain(s.secretKey);
    expect(err.retryable).toBe(true);
    expect(s.log).toHaveLength(3);

    const url = s.url;
    await s.stop();
    standin = undefined;
    const clock = new ManualClock(NOW);
    const offline = new LangfuseClient({ ...tuning(clock), host: url, publicKey: "pk", secretKey: "sk-lf-offline-secret", maxAttempts: 2 });
    const down = (await pages(offline.observations(WINDOW)).catch((e: unknown) => e)) as PullApiError;
    expect(down.message).toMatch(/failed after 2 attempts: network error \(ECONNREFUSED\)/);
    expect(down.status).toBeNull();
  });

  it("does not park for a Retry-After longer than it is willing to wait", async () => {
    const { client, standin: s } = await setup({ observations: generations(2, W0, MINUTE) }, { maxRetryAfterMs: 60_000 });
    s.failNext({ status: 429, retryAfter: "3600" });
    const err = (await pages(client.observations(WINDOW)).catch((e: unknown) => e)) as PullApiError;
    expect(err.message).toMatch(/asks to wait 3600 s, more than the 60 s/);
    expect(s.log).toHaveLength(1);
  });

  it("resolves the key's project and reads one trace, its embedded observations cut to ids; a missing trace is null", async () => {
    const obs = generations(3, W0, MINUTE, { perTrace: 3 });
    const { client, standin: s } = await setup({ observations: obs, traces: langfuseTraces(["obs-trace-0"], () => W0) });
    expect(await client.projectId()).toBe(s.projectId);
    const t = await client.trace("obs-trace-0");
    expect(t).toMatchObject({ id: "obs-trace-0", metadata: { tenant_id: "acme" }, observations: ["obs-0000", "obs-0001", "obs-0002"] });
    expect(await client.trace("nope")).toBeNull();
  });
});

describe("langfusePullSource", () => {
  let standin: LangfuseStandin | undefined;
  afterEach(async () => {
    await standin?.stop();
    standin = undefined;
  });

  it("hands off observations, then the window's traces, then as context the traces that started before the window", async () => {
    const clock = new ManualClock(NOW);
    // trace "early" starts 5 minutes before the window; its second generation falls inside.
    const early = [...generations(1, W0 - 5 * MINUTE, 0, { prefix: "early" }), { ...generations(1, W0 + MINUTE, 0, { prefix: "early" })[0], id: "early-inside" }];
    const inside = generations(4, W0 + 10 * MINUTE, MINUTE, { prefix: "in", perTrace: 2 });
    const traces = [...langfuseTraces(["early-trace-0"], () => W0 - 5 * MINUTE, "globex"), ...langfuseTraces(["in-trace-0", "in-trace-1"], (i) => W0 + (10 + 2 * i) * MINUTE)];
    standin = await startLangfuseStandin({ now: () => clock.now(), observations: [...early, ...inside], traces });
    const client = new LangfuseClient({ ...tuning(clock), host: standin.url, publicKey: standin.publicKey, secretKey: standin.secretKey });

    const got = (await pages(langfusePullSource(client, { traces: true }).read(WINDOW))).flat();
    expect(got.filter((i) => i.kind === "observation").map((i) => (i.raw as { id: string }).id).sort()).toEqual(["early-inside", "in-0000", "in-0001", "in-0002", "in-0003"]);
    expect(got.filter((i) => i.kind === "trace" && !i.context).map((i) => (i.raw as { id: string }).id).sort()).toEqual(["in-trace-0", "in-trace-1"]);
    expect(got.filter((i) => i.context).map((i) => [(i.raw as { id: string }).id, i.kind])).toEqual([["early-trace-0", "trace"]]);

    const none = (await pages(langfusePullSource(client, { traces: false }).read(WINDOW))).flat();
    expect(none.every((i) => i.kind === "observation")).toBe(true);
  });

  it("says what to do when this Langfuse no longer serves the v1 traces list", async () => {
    const clock = new ManualClock(NOW);
    standin = await startLangfuseStandin({ now: () => clock.now(), observations: generations(2, W0, MINUTE), legacyTraces: false });
    const client = new LangfuseClient({ ...tuning(clock), host: standin.url, publicKey: standin.publicKey, secretKey: standin.secretKey });
    const err = (await pages(langfusePullSource(client, { traces: true }).read(WINDOW)).catch((e: unknown) => e)) as PullApiError;
    expect(err).toBeInstanceOf(PullApiError);
    expect(err.message).toMatch(/GET \/api\/public\/traces failed: 404 .*set LANGFUSE_PULL_TRACES=false/);
    expect((await pages(langfusePullSource(client, { traces: false }).read(WINDOW))).flat()).toHaveLength(2);
  });
});
