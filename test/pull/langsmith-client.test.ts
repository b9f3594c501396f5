import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../src/model/index.js";
import { ManualClock } from "../../src/pull/clock.js";
import { PullApiError } from "../../src/pull/http.js";
import { LangSmithClient, RUN_SELECT } from "../../src/pull/langsmith-client.js";
import { langSmithPullSource } from "../../src/pull/sources.js";
import { parseFilter, startLangSmithStandin, type LangSmithStandin, type LangSmithStandinOptions } from "../../src/pull/standin/index.js";
import { HOUR, MINUTE, NOW, llmRuns, pages, tuning } from "./helpers.js";

const W0 = Date.parse("2026-11-20T09:00:00Z");
const WINDOW = { from: W0, to: W0 + HOUR };
const PROJECT = { id: "5f0c2d7e-8a43-4c1b-9e2f-3b6a1d9c4e70", name: "prod-assistants" };

describe("LangSmithClient against the LangSmith stand-in (real HTTP)", () => {
  let standin: LangSmithStandin | undefined;
  afterEach(async () => {
    await standin?.stop();
    standin = undefined;
  });

  async function setup(opts: LangSmithStandinOptions = {}, extra: Partial<ConstructorParameters<typeof LangSmithClient>[0]> = {}) {
    const clock = new ManualClock(NOW);
    standin = await startLangSmithStandin({ now: () => clock.now(), projects: [PROJECT, { id: "0b7e0000-0000-4000-8000-000000000001", name: "staging" }], ...opts });
    const client = new LangSmithClient({ ...tuning(clock), apiUrl: standin.url, apiKey: standin.apiKey, ...extra });
    return { clock, standin, client };
  }

  it("resolves a project by name (GET /sessions?name=) or by id, and names a missing one", async () => {
    const { client, standin: s } = await setup();
    expect(await client.resolveProject("prod-assistants")).toMatchObject(PROJECT);
    expect(await client.resolveProject(PROJECT.id)).toMatchObject(PROJECT);
    expect(s.log.map((r) => `${r.method} ${r.path}${r.query}`)).toEqual(["GET /sessions?name=prod-assistants", `GET /sessions/${PROJECT.id}`]);
    const err = await client.resolveProject("nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe('LangSmith project "nope" not found (LANGSMITH_PROJECT takes a project name or id)');
  });

  it("pages POST /runs/query by cursor: every run of the window once, naive v1 timestamps read as UTC", async () => {
    const inside = llmRuns(250, W0, 10_000);
    const before = llmRuns(2, W0 - 2000, 1000, { prefix: "0190bbbb-0000-7000-8000" });
    const after = llmRuns(2, W0 + HOUR, 1000, { prefix: "0190cccc-0000-7000-8000" });
    const otherProject = llmRuns(3, W0, 1000, { prefix: "0190dddd-0000-7000-8000", session: "0b7e0000-0000-4000-8000-000000000001" });
    const { client, standin: s } = await setup({ runs: [...inside, ...before, ...after, ...otherProject] });
    const got = await pages(client.runs(PROJECT.id, WINDOW));
    expect(got.map((p) => p.length)).toEqual([100, 100, 50]);
    const ids = got.flat().map((r) => r.id);
    expect(new Set(ids).size).toBe(250);
    expect(ids.sort()).toEqual(inside.map((r) => r.id as string).sort());

    const body = s.log[0]!.body as Record<string, unknown>;
    expect(body).toMatchObject({
      session: [PROJECT.id],
      start_time: "2026-11-20T09:00:00.000Z",
      filter: 'and(gte(start_time, "2026-11-20T09:00:00.000Z"), lt(start_time, "2026-11-20T10:00:00.000Z"))',
      limit: 100,
    });
    expect(body["select"]).toEqual([...RUN_SELECT]);
    for (const f of ["extra", "outputs", "dotted_order", "parent_run_id", "trace_id", "status", "error", "prompt_tokens", "completion_tokens", "prompt_token_details"]) {
      expect(RUN_SELECT).toContain(f);
    }
    expect(s.log.slice(1).every((r) => typeof (r.body as { cursor?: unknown }).cursor === "string")).toBe(true);
    // Only selected fields come back: `events` and `app_path` were not asked for.
    expect(got[0]![0]).not.toHaveProperty("events");
    expect(got[0]![0]).toHaveProperty("extra.metadata.tenant_id", "acme");
  });

  it("honours a 429 whose Retry-After is an HTTP-date", async () => {
    const { client, standin: s, clock } = await setup({ runs: llmRuns(3, W0, MINUTE) });
    s.failNext({ status: 429, retryAfter: new Date(clock.now() + 20_000).toUTCString(), path: "/runs/query" });
    const got = await pages(client.runs(PROJECT.id, WINDOW));
    expect(got.flat()).toHaveLength(3);
    expect(s.log.map((r) => r.status)).toEqual([429, 200]);
    expect(s.log[1]!.at - s.log[0]!.at).toBeGreaterThanOrEqual(20_000);
  });

  it("retries 500s and keeps the API key out of every message", async () => {
    const notices: string[] = [];
    const { client, standin: s } = await setup({ runs: llmRuns(3, W0, MINUTE), echoCredentialsOnAuthError: true }, { onRetry: (n) => notices.push(n.reason) });
    s.failNext({ status: 500, body: { detail: `boom for ${s.apiKey}` } });
    expect((await pages(client.runs(PROJECT.id, WINDOW))).flat()).toHaveLength(3);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain("[redacted]");
    expect(notices.join()).not.toContain(s.apiKey);

    const clock = new ManualClock(NOW);
    const wrong = new LangSmithClient({ ...tuning(clock), apiUrl: s.url, apiKey: "lsv2_pt_wrong_key_0123456789" });
    const err = (await wrong.resolveProject("prod-assistants").catch((e: unknown) => e)) as PullApiError;
    expect(err).toBeInstanceOf(PullApiError);
    expect(err.message).toMatch(/^LangSmith GET \/sessions failed: 401 Unauthorized: \{"detail":"Invalid token \[redacted\]"\} — check LANGSMITH_API_KEY/);
    expect(err.message).not.toContain("lsv2_pt_wrong_key_0123456789");
  });

  it("fetches runs by id for trace roots outside the window", async () => {
    const roots = llmRuns(120, W0 - 3 * HOUR, 1000);
    const { client, standin: s } = await setup({ runs: roots });
    const ids = roots.slice(0, 105).map((r) => r.id as string);
    const got = await client.runsById(PROJECT.id, ids);
    expect(got.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(s.log.map((r) => ((r.body as { id: string[] }).id).length)).toEqual([100, 5]);
  });
});

describe("langSmithPullSource", () => {
  let standin: LangSmithStandin | undefined;
  afterEach(async () => {
    await standin?.stop();
    standin = undefined;
  });

  it("hands off the window's runs, then as context the roots of traces that started before it", async () => {
    const clock = new ManualClock(NOW);
    const [root] = llmRuns(1, W0 - 10 * MINUTE, 0, { prefix: "0190eeee-0000-7000-8000" });
    const rootChain: Record<string, unknown> = { ...root!, run_type: "chain", name: "agent" };
    const children = llmRuns(2, W0 + MINUTE, MINUTE, { prefix: "0190ffff-0000-7000-8000", traceId: rootChain["id"] as string });
    const own = llmRuns(2, W0 + 20 * MINUTE, MINUTE);
    standin = await startLangSmithStandin({ now: () => clock.now(), projects: [PROJECT], runs: [rootChain, ...children, ...own] });
    const client = new LangSmithClient({ ...tuning(clock), apiUrl: standin.url, apiKey: standin.apiKey });
    const got = (await pages(langSmithPullSource(client, "prod-assistants").read(WINDOW))).flat();
    expect(got.filter((i) => !i.context).map((i) => (i.raw as { id: string }).id).sort()).toEqual([...children, ...own].map((r) => r.id).sort());
    expect(got.filter((i) => i.context).map((i) => (i.raw as { id: string }).id)).toEqual([rootChain["id"]]);
  });
});

describe("the stand-in's filter subset", () => {
  it.each([
    ['and(gte(start_time, "2026-11-20T09:00:00Z"), lt(start_time, "2026-11-20T10:00:00Z"))', Date.parse("2026-11-20T09:30:00Z"), true],
    ['and(gte(start_time, "2026-11-20T09:00:00Z"), lt(start_time, "2026-11-20T10:00:00Z"))', Date.parse("2026-11-20T10:00:00Z"), false],
    ['gt(start_time, "2026-11-20T09:00:00.000000")', Date.parse("2026-11-20T09:00:00Z"), false],
  ])("%s at %d → %s", (filter, t, expected) => {
    const c = parseFilter(filter);
    expect(typeof c).toBe("function");
    expect((c as (t: number) => boolean)(t)).toBe(expected);
  });

  it("refuses what it does not implement instead of ignoring it", () => {
    expect(parseFilter('eq(run_type, "llm")')).toMatch(/unsupported filter field run_type/);
    expect(parseFilter('has(tags, "x")')).toMatch(/unsupported filter function has/);
  });
});
