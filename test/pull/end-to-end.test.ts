import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { previewCommand } from "../../src/cli/commands/preview.js";
import { pullCommand, type PullCommandDeps } from "../../src/cli/commands/pull.js";
import { ManualClock } from "../../src/pull/clock.js";
import { startScheduledPullToIngest } from "../../src/pull/deliver.js";
import type { ScheduledPull } from "../../src/pull/schedule.js";
import { createLogger } from "../../src/runtime/logger.js";
import { exampleSeed, startExampleStandins, startLangSmithStandin, startLangfuseStandin, type LangSmithStandin, type LangfuseStandin } from "../../src/pull/standin/index.js";
import { EXAMPLE_TENANT_TOTALS, EXAMPLE_TENANTS } from "../support/expected.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { MAPPINGS, ROOT, lagoTenantTotals, startStack, type Stack, type TenantTotals } from "../support/stack.js";
import { generations, langfuseTraces, llmRuns } from "./helpers.js";

/** examples/README.md, per platform. */
const README = {
  langsmith: { acme: { input: 3772, output: 1510 }, globex: { input: 4870, output: 685 }, "10987": { input: 2340, output: 535 }, initech: { input: 1474, output: 195 } },
  langfuse: { acme: { input: 5310, output: 1581 }, globex: { input: 6756, output: 771 }, "10987": { input: 2570, output: 564 }, initech: { input: 3440, output: 378 } },
};
const EXAMPLES = {
  langsmith: [join(ROOT, "examples/langsmith/runs.jsonl")],
  langfuse: [join(ROOT, "examples/langfuse/observations.jsonl"), join(ROOT, "examples/langfuse/traces.json")],
};

/** Billed tokens per tenant × type, as `tracebill preview --format json` reports them. */
async function previewTotals(inputs: string[]): Promise<TenantTotals> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (c: Buffer) => (text += c.toString()));
  await previewCommand(inputs, { mapping: MAPPINGS, format: "json" }, out);
  const doc = JSON.parse(text) as { events: { customer: string; value: number; properties: { type?: string } }[] };
  const totals: TenantTotals = {};
  for (const e of doc.events) {
    const t = (totals[e.customer] ??= { input: 0, output: 0 });
    if (e.properties.type === "input" || e.properties.type === "output") t[e.properties.type] += e.value;
  }
  return totals;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(".jsonl")).map((e) => join(e.parentPath, e.name)).sort();
}

describe("pull end to end: stand-in APIs seeded with examples/ → JSONL windows → the file pipeline", () => {
  let langfuse: LangfuseStandin | undefined;
  let langsmith: LangSmithStandin | undefined;
  let stack: Stack | undefined;
  let scheduled: ScheduledPull | null = null;
  afterEach(async () => {
    await scheduled?.close();
    scheduled = null;
    await langfuse?.stop();
    await langsmith?.stop();
    await stack?.stop();
    langfuse = langsmith = stack = undefined;
  });

  async function standins(clock: ManualClock) {
    const both = await startExampleStandins({ now: () => clock.now() });
    langfuse = both.langfuse;
    langsmith = both.langsmith;
    return { ...both.env, TRACEBILL_PULL_RPM: "600000", LOG_LEVEL: "silent" };
  }

  function io(clock: ManualClock): PullCommandDeps & { text: () => string } {
    const out = new PassThrough();
    let text = "";
    out.on("data", (c: Buffer) => (text += c.toString()));
    return { out, err: new PassThrough(), clock, tuning: { burst: 1e9 }, text: () => text };
  }

  it("`pull --out DIR` writes windows that preview bills exactly like the seed files, per tenant, on both platforms", async () => {
    const clock = new ManualClock("2026-11-27T00:00:00Z");
    const env = { ...(await standins(clock)), REDIS_URL: testRedisUrl(), TRACEBILL_QUEUE_PREFIX: uniquePrefix("pull-e2e") };
    const dir = await mkdtemp(join(tmpdir(), "tracebill-pull-"));

    for (const platform of ["langfuse", "langsmith"] as const) {
      const deps = io(clock);
      const code = await pullCommand(platform, { from: "2026-11-20T00:00:00Z", out: join(dir, platform) }, { ...deps, env });
      expect(code).toBe(0);
      expect(deps.text()).toMatch(new RegExp(`pulled \\d+ window\\(s\\) of ${platform} project \\S+, \\d+ items; watermark now 2026-11-26T23:45:00.000Z`));

      const files = await filesUnder(join(dir, platform));
      expect(files.length).toBeGreaterThan(1);
      const pulled = await previewTotals(files);
      expect(pulled).toEqual(await previewTotals(EXAMPLES[platform]));
      expect(pulled).toEqual(README[platform]);
    }

    // Window directories are named by their bounds and hold only the kinds they saw.
    const lf = await filesUnder(join(dir, "langfuse"));
    expect(lf.some((f) => /langfuse\/cm3standinproject0001\/20261120T090000Z_20261120T100000Z\/observations\.jsonl$/.test(f))).toBe(true);
    expect(lf.some((f) => f.endsWith("traces.jsonl"))).toBe(true);
    const first = (await readFile(lf[0]!, "utf8")).split("\n")[0]!;
    expect(() => JSON.parse(first) as unknown).not.toThrow();

    // A second pull finds nothing new and writes nothing.
    const again = io(clock);
    expect(await pullCommand("langfuse", { from: "2026-11-20T00:00:00Z", out: join(dir, "langfuse") }, { ...again, env })).toBe(0);
    expect(again.text()).toMatch(/is up to date: watermark 2026-11-26T23:45:00.000Z/);
  });

  it("`pull --destination lago --wait` delivers both platforms through the ingest queue with the examples' exact totals", async () => {
    stack = await startStack({ customers: EXAMPLE_TENANTS });
    const clock = new ManualClock("2026-11-27T00:00:00Z");
    const env = {
      ...(await standins(clock)),
      REDIS_URL: stack.config.redisUrl,
      TRACEBILL_QUEUE_PREFIX: stack.config.queuePrefix,
      LAGO_API_URL: stack.sandbox.lagoApiUrl,
      LAGO_API_KEY: stack.sandbox.lagoApiKey,
      MAPPINGS_DIR: MAPPINGS,
      TRACEBILL_PULL_WINDOW_MINUTES: "360",
    };
    const spool = await mkdtemp(join(tmpdir(), "tracebill-spool-"));
    for (const platform of ["langsmith", "langfuse"] as const) {
      const deps = io(clock);
      const code = await pullCommand(platform, { from: "2026-11-20T00:00:00Z", destination: "lago", out: spool, wait: true }, { ...deps, env });
      expect(deps.text()).toMatch(/enqueued \d+ ingest jobs? → lago/);
      expect(code).toBe(0);
    }
    expect(lagoTenantTotals(stack.sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);
  });

  it("a trace that straddles a window boundary still bills the tenant only its root (or trace) carries", async () => {
    const clock = new ManualClock("2026-11-27T00:00:00Z");
    const boundary = Date.parse("2026-11-21T10:00:00Z");
    // LangSmith: a chain root with the tenant just before 10:00, its llm child without it just after.
    const [root] = llmRuns(1, boundary - 1500, 0, { prefix: "0190abcd-0000-7000-8000" });
    const chain: Record<string, unknown> = { ...root!, run_type: "chain", name: "agent", extra: { metadata: { tenant_id: "globex" } } };
    const [child] = llmRuns(1, boundary + 1500, 0, { prefix: "0190dcba-0000-7000-8000", traceId: chain["id"] as string });
    const orphan = { ...child!, extra: { metadata: { ls_provider: "openai", ls_model_name: "gpt-4o-mini", usage_metadata: { input_tokens: 300, output_tokens: 40, total_tokens: 340 } } } };
    // Langfuse: the trace (tenant in its metadata) at 09:59:58, its generation at 10:00:02.
    const [gen] = generations(1, boundary + 2000, 0, { prefix: "straddle" });
    const bare = { ...gen!, metadata: {} };
    const trace = langfuseTraces(["straddle-trace-0"], () => boundary - 2000, "globex");
    langfuse = await startLangfuseStandin({ now: () => clock.now(), observations: [bare], traces: trace });
    langsmith = await startLangSmithStandin({ now: () => clock.now(), runs: [chain, orphan] });
    const env = {
      LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: langfuse.publicKey, LANGFUSE_SECRET_KEY: langfuse.secretKey,
      LANGSMITH_API_URL: langsmith.url, LANGSMITH_API_KEY: langsmith.apiKey, LANGSMITH_PROJECT: "prod-assistants",
      TRACEBILL_PULL_RPM: "600000", REDIS_URL: testRedisUrl(), TRACEBILL_QUEUE_PREFIX: uniquePrefix("pull-straddle"),
    };
    const dir = await mkdtemp(join(tmpdir(), "tracebill-straddle-"));
    for (const platform of ["langfuse", "langsmith"] as const) {
      const deps = io(clock);
      expect(await pullCommand(platform, { from: "2026-11-21T09:00:00Z", to: "2026-11-21T11:00:00Z", out: join(dir, platform) }, { ...deps, env })).toBe(0);
      expect(deps.text()).toMatch(/10:00:00.000Z … 2026-11-21T11:00:00.000Z {2}1 items \(\+1 context\)/);
    }
    expect(await previewTotals(await filesUnder(join(dir, "langfuse")))).toEqual({ globex: { input: 100, output: 20 } });
    expect(await previewTotals(await filesUnder(join(dir, "langsmith")))).toEqual({ globex: { input: 300, output: 40 } });
  });

  it("the worker's scheduled pull (TRACEBILL_PULL_DESTINATION) spools each window and ingests it: Langfuse totals land in Lago", async () => {
    stack = await startStack({ customers: EXAMPLE_TENANTS });
    const clock = new ManualClock("2026-11-27T00:00:00Z");
    const seed = await exampleSeed();
    langfuse = await startLangfuseStandin({ now: () => clock.now(), observations: seed.observations, traces: seed.traces });
    scheduled = await startScheduledPullToIngest({
      config: { ...stack.config, mappingsDir: MAPPINGS },
      pull: {
        langfuse: { host: langfuse.url, publicKey: langfuse.publicKey, secretKey: langfuse.secretKey, traces: true },
        langsmith: null,
        lagMs: 15 * 60_000,
        windowMs: 6 * 3_600_000,
        everyMs: 200,
        requestsPerMinute: 600_000,
        startAt: Date.parse("2026-11-20T00:00:00Z"),
        spoolDir: await mkdtemp(join(tmpdir(), "tracebill-sched-")),
        destination: "lago",
      },
      logger: createLogger("silent"),
      clock,
      tuning: { burst: 1e9 },
    });
    expect(scheduled).not.toBeNull();
    const end = Date.now() + 30_000;
    while (JSON.stringify(lagoTenantTotals(stack.sandbox)) !== JSON.stringify(README.langfuse) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(lagoTenantTotals(stack.sandbox)).toEqual(README.langfuse);
  });
});
