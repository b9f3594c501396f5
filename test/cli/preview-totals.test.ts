/**
 * `tracebill preview` totals (table, CSV, totals-json) and `--against`, on examples/ with the
 * shipped llm-tokens mapping. Expected numbers come from examples/README.md and the raw exports,
 * worked out below by hand — never from the code under test.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { previewCommand, type PreviewOptions } from "../../src/cli/commands/preview.js";
import { EXAMPLE_TENANT_TOTALS } from "../support/expected.js";
import { ROOT } from "../support/stack.js";

// The one file, not the directory: other shipped mappings (other metrics) must not move these numbers.
const LLM_TOKENS = join(ROOT, "mappings/llm-tokens.yaml");
const inputs = exampleInputs();

async function preview(opts: Partial<PreviewOptions> & { format: string }): Promise<string> {
  let text = "";
  const out = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream;
  const code = await previewCommand(inputs, { mapping: LLM_TOKENS, ...opts }, out);
  expect(code).toBe(0);
  return text;
}

const TENANTS = ["10987", "acme", "globex", "initech"] as const;
type Tenant = (typeof TENANTS)[number];

/** llm_tokens per tenant (input + output) under the default policy: examples/README.md. */
const BILLED = Object.fromEntries(TENANTS.map((t) => [t, EXAMPLE_TENANT_TOTALS[t]!.input + EXAMPLE_TENANT_TOTALS[t]!.output])) as Record<Tenant, number>;

/**
 * Events per tenant: two per billed model call (input, output), except acme's Langfuse embedding,
 * which has no output tokens. Billed calls, by line of the export:
 *   10987   LangSmith 15, 28 · Langfuse 11, 27, 34                 → 5 calls → 10 events
 *   acme    LangSmith 2, 35  · Langfuse 2 (embedding), 3, 4, 7, 14, 23, 37 → 9 calls → 17 events
 *   globex  LangSmith 6, 9, 26 · Langfuse 12, 15, 16, 29, 32       → 8 calls → 16 events
 *   initech LangSmith 19, 22 · Langfuse 19, 20, 21, 24, 26, 30     → 8 calls → 16 events
 */
const EVENTS: Record<Tenant, number> = { "10987": 10, acme: 17, globex: 16, initech: 16 };

/**
 * Skip reasons (examples/README.md): 35 LangSmith runs of which 15 are llm runs, 36 Langfuse
 * observations of which 25 are generations/embeddings → 20 + 11 = 31 not model calls; failed or
 * pending: LangSmith 429 (10987), retry attempt 1 (initech), pending (acme), Langfuse ERROR
 * (10987, initech) = 5; cache hits: LangChain JS (acme), LiteLLM (globex) = 2; no tenant: the lone
 * ChatOpenAI run and the nightly-eval generation = 2; estimated usage: acme's traceable = 1.
 */
const SKIPPED = { "model-calls-only": 31, "success-only": 5, "no-cache-hits": 2, "no customer": 2, "reported-usage-only": 1 };

/**
 * Prompt-cache reads of the billed calls (not billed by the default policy), from the raw exports:
 *   acme    LangSmith 2,048 (line 2) · Langfuse 1,024 + 3,000 + 3,900 + 300 (lines 3, 4, 23, 37)
 *   globex  LangSmith 4,800 (line 6) · Langfuse 1,024 + 800 + 256 (LiteLLM lines 12, 15; line 32)
 *   10987   Langfuse 512 (line 34)
 *   initech LangSmith 1,536 (line 22) · Langfuse 1,536 (line 21)
 * (The LiteLLM cache hit on line 13 also reports 1,024 reads, but it is skipped either way.)
 */
const CACHE_READS: Record<Tenant, number> = {
  acme: 2_048 + 1_024 + 3_000 + 3_900 + 300,
  globex: 4_800 + 1_024 + 800 + 256,
  "10987": 512,
  initech: 1_536 + 1_536,
};

const n = (v: number) => v.toLocaleString("en-US");

describe("tracebill preview: totals per customer × metric", () => {
  it("prints a table of totals, skipped and quarantined records by reason", async () => {
    const text = await preview({ format: "table" });
    for (const t of TENANTS) expect(text).toMatch(new RegExp(`│ ${t}\\s+│ llm_tokens │\\s+${n(BILLED[t])} │\\s+${EVENTS[t]} │`));
    for (const [reason, count] of Object.entries(SKIPPED)) expect(text).toMatch(new RegExp(`│ llm-tokens[/:] ?${reason}.*│\\s+${count} │`));
    // One line cut off mid-write in each export.
    expect(text).toMatch(/│ invalid JSON\s+│\s+2 │/);
    expect(text).toContain("59 events, 41 skipped, 2 quarantined.");
  });

  it("breaks totals down by event properties with --by", async () => {
    const text = await preview({ format: "table", by: "type" });
    for (const t of TENANTS) {
      expect(text).toMatch(new RegExp(`│ ${t}\\s+│ llm_tokens │ input\\s+│\\s+${n(EXAMPLE_TENANT_TOTALS[t]!.input)} │`));
      expect(text).toMatch(new RegExp(`│ ${t}\\s+│ llm_tokens │ output\\s+│\\s+${n(EXAMPLE_TENANT_TOTALS[t]!.output)} │`));
    }
  });

  it("writes the same totals as CSV, one table with a kind column", async () => {
    const lines = (await preview({ format: "csv" })).trimEnd().split("\n");
    expect(lines[0]).toBe("kind,customer,metric,reason,quantity,count");
    expect(lines.filter((l) => l.startsWith("billed,"))).toEqual(TENANTS.map((t) => `billed,${t},llm_tokens,,${BILLED[t]},${EVENTS[t]}`));
    expect(lines).toContain("skipped,,,llm-tokens/success-only: Failed or unfinished calls are not billed.,,5");
    expect(lines).toContain('skipped,,,"llm-tokens: no customer: record.attributes.tenant_id, record.attributes.customer_id gave no value",,2');
    expect(lines).toContain("quarantined,,,invalid JSON,,2");
    const byType = (await preview({ format: "csv", by: "type" })).split("\n");
    expect(byType[0]).toBe("kind,customer,metric,type,reason,quantity,count");
    expect(byType).toContain(`billed,acme,llm_tokens,input,,${EXAMPLE_TENANT_TOTALS.acme!.input},9`);
    expect(byType).toContain(`billed,acme,llm_tokens,output,,${EXAMPLE_TENANT_TOTALS.acme!.output},8`);
  });

  it("writes totals as JSON with --format totals-json", async () => {
    const doc = JSON.parse(await preview({ format: "totals-json" }));
    expect(doc.totals).toEqual(TENANTS.map((t) => ({ customer: t, metric: "llm_tokens", value: BILLED[t], events: EVENTS[t] })));
    expect(doc.events).toBe(59);
    expect(doc.skipped.records).toBe(41);
    expect(Object.fromEntries(doc.skipped.byReason.map((r: { reason: string; records: number }) => [r.reason.replace(/^llm-tokens[/:] ?/, "").replace(/:.*/, ""), r.records]))).toEqual(SKIPPED);
    expect(doc.quarantined).toEqual({ records: 2, byReason: [{ reason: "invalid JSON", records: 2 }] });
    expect(doc.mappingSet.mappings.map((m: { name: string }) => m.name)).toEqual(["llm-tokens"]);
  });

  it("keeps --format json the event-level document it always was", async () => {
    const doc = JSON.parse(await preview({ format: "json" }));
    expect(Object.keys(doc)).toEqual(["events", "skipped", "quarantined"]);
    expect(Object.keys(doc.events[0])).toEqual(["id", "customer", "metric", "value", "timestamp", "properties", "source", "mapping"]);
    const sum: Record<string, number> = {};
    for (const e of doc.events as { customer: string; value: number }[]) sum[e.customer] = (sum[e.customer] ?? 0) + e.value;
    expect(sum).toEqual(BILLED);
    expect(doc.skipped).toHaveLength(41);
    expect(doc.quarantined).toHaveLength(2);
  });

  it("rejects an unknown format or property name", async () => {
    await expect(previewCommand(inputs, { mapping: LLM_TOKENS, format: "xml" })).rejects.toThrow(/--format must be one of table, json, csv, totals-json/);
    await expect(previewCommand(inputs, { mapping: LLM_TOKENS, format: "csv", by: "model,ty pe" })).rejects.toThrow(/--by/);
    await expect(previewCommand(inputs, { mapping: LLM_TOKENS, format: "json", by: "model" })).rejects.toThrow(/--by groups totals/);
  });
});

describe("tracebill preview --against: what a mapping edit changes in the bill", () => {
  let dir: string;
  let shipped: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tracebill-against-"));
    shipped = await readFile(LLM_TOKENS, "utf8");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A copy of the shipped mapping with one edit; fails loudly if the text to edit is gone. */
  async function edited(name: string, from: string, to: string): Promise<string> {
    expect(shipped, `mappings/llm-tokens.yaml no longer contains this text; update the test: ${from}`).toContain(from);
    const path = join(dir, name);
    await writeFile(path, shipped.replace(from, to));
    return path;
  }

  const percent = (diff: number, before: number) => Math.round((diff / before) * 10_000) / 100;

  it("bills prompt-cache reads: each tenant's bill grows by exactly its cache reads", async () => {
    const cacheReadsBilled = await edited("cache-reads-billed.yaml", "quantity: record.usage.input - record.usage.cacheRead", "quantity: record.usage.input");
    const doc = JSON.parse(await preview({ format: "json", mapping: cacheReadsBilled, against: LLM_TOKENS }));
    expect(doc.totals).toEqual(
      TENANTS.map((t) => ({
        customer: t,
        metric: "llm_tokens",
        before: BILLED[t],
        after: BILLED[t] + CACHE_READS[t],
        difference: CACHE_READS[t],
        changePercent: percent(CACHE_READS[t], BILLED[t]),
        eventsBefore: EVENTS[t],
        eventsAfter: EVENTS[t],
      })),
    );
    const all = TENANTS.reduce((a, t) => a + BILLED[t], 0);
    const reads = TENANTS.reduce((a, t) => a + CACHE_READS[t], 0);
    expect(doc.metrics).toEqual([{ metric: "llm_tokens", before: all, after: all + reads, difference: reads, changePercent: percent(reads, all) }]);
    expect(doc.skipped.every((r: { difference: number }) => r.difference === 0)).toBe(true);
    expect(doc.before.path).toBe(LLM_TOKENS);
    expect(doc.after.path).toBe(cacheReadsBilled);

    // The same, per token type, as CSV: only input moves.
    const csv = (await preview({ format: "csv", mapping: cacheReadsBilled, against: LLM_TOKENS, by: "type" })).split("\n");
    expect(csv[0]).toBe("kind,customer,metric,type,reason,before,after,difference,change_percent");
    for (const t of TENANTS) {
      const { input, output } = EXAMPLE_TENANT_TOTALS[t]!;
      expect(csv).toContain(`billed,${t},llm_tokens,input,,${input},${input + CACHE_READS[t]},${CACHE_READS[t]},${percent(CACHE_READS[t], input)}`);
      expect(csv).toContain(`billed,${t},llm_tokens,output,,${output},${output},0,0`);
    }

    const table = await preview({ format: "table", mapping: cacheReadsBilled, against: LLM_TOKENS });
    // acme: 12,173 → 22,445, +10,272, +84.4%
    expect(table).toMatch(/│ acme\s+│ llm_tokens │\s+12,173 │\s+22,445 │\s+\+10,272 │\s+\+84\.4% │/);
    for (const t of TENANTS) {
      const pct = `+${percent(CACHE_READS[t], BILLED[t]).toFixed(1)}%`;
      expect(table).toMatch(new RegExp(`│ ${t}\\s+│ llm_tokens │\\s+${n(BILLED[t])} │\\s+${n(BILLED[t] + CACHE_READS[t])} │\\s+\\+${n(CACHE_READS[t])} │\\s+\\${pct} │`));
    }
    expect(table).toContain("No skip reason moved.");
    expect(table).toContain("4 of 4 customer × metric totals change; events 59 → 59, skipped 41 → 41, 2 quarantined");
  });

  it("bills estimated usage: acme's traceable call (150 in, 40 out) moves from a skip reason into the bill", async () => {
    const estimatedBilled = await edited(
      "estimated-billed.yaml",
      "  - name: reported-usage-only\n    description: Token counts were estimated, not reported by the model provider; we only bill reported counts.\n    skip_when: record.usageEstimated\n",
      "",
    );
    const doc = JSON.parse(await preview({ format: "totals-json", mapping: estimatedBilled, against: LLM_TOKENS }));
    const acme = doc.totals.find((r: { customer: string }) => r.customer === "acme");
    expect(acme).toEqual({ customer: "acme", metric: "llm_tokens", before: BILLED.acme, after: BILLED.acme + 190, difference: 190, changePercent: percent(190, BILLED.acme), eventsBefore: 17, eventsAfter: 19 });
    for (const t of ["10987", "globex", "initech"] as const) expect(doc.totals.find((r: { customer: string }) => r.customer === t).difference).toBe(0);
    const moved = doc.skipped.filter((r: { difference: number }) => r.difference !== 0);
    expect(moved).toEqual([{ reason: "llm-tokens/reported-usage-only: Token counts were estimated, not reported by the model provider; we only bill reported counts.", before: 1, after: 0, difference: -1 }]);

    const table = await preview({ format: "table", mapping: estimatedBilled, against: LLM_TOKENS });
    expect(table).toMatch(/│ Skip reasons that moved\s+│ Before │ After │ Difference │/);
    expect(table).toMatch(/│ llm-tokens\/reported-usage-only: .*│\s+1 │\s+0 │\s+−1 │/);
    expect(table).toContain("1 of 4 customer × metric totals change; events 59 → 61, skipped 41 → 40");

    const csv = (await preview({ format: "csv", mapping: estimatedBilled, against: LLM_TOKENS })).split("\n");
    expect(csv).toContain(`billed,acme,llm_tokens,,${BILLED.acme},${BILLED.acme + 190},190,${percent(190, BILLED.acme)}`);
    expect(csv).toContain('skipped,,,"llm-tokens/reported-usage-only: Token counts were estimated, not reported by the model provider; we only bill reported counts.",1,0,-1,-100');
  });
});

describe("preview shows the mapping's warnings before the totals", () => {
  it("prints each warning with file:line:col on stderr, and still previews", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tb-warn-"));
    try {
      const text = (await readFile(LLM_TOKENS, "utf8")).replace(/^rules:\n/m, "rules:\n  - name: never\n    description: A rule that can never fire.\n    skip_when: 1 > 2\n");
      const file = join(dir, "llm-tokens.yaml");
      await writeFile(file, text);
      const line = text.split("\n").findIndex((l) => l.includes("skip_when: 1 > 2")) + 1;
      expect(line).toBeGreaterThan(1);
      const { runCli } = await import("../support/cli.js");
      const r = await runCli(["preview", ...inputs, "--mapping", file, "--format", "csv"], {});
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`warning: ${file}:${line}:`);
      expect(r.stderr).toContain("TB-MAP-102");
      // stdout stays clean CSV.
      expect(r.stdout).not.toContain("warning");
      expect(r.stdout.split("\n")[0]).toMatch(/^kind,customer,metric,/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
