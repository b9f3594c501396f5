import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mapAll, parseEveryLine } from "../../src/bench/bench.js";
import { generateBenchExports } from "../../src/bench/generate.js";
import { ABSENT, celRecord, fromCel } from "../../src/mapping/cel-env.js";
import { CelRuntimeError, type CelContext, type CompiledExpr, type CompiledMapping } from "../../src/mapping/compile.js";
import { loadMappingSet } from "../../src/mapping/index.js";
import { readInputs } from "../../src/sources/registry.js";
import type { TraceRecord } from "../../src/model/index.js";
import { MAPPINGS, ROOT } from "../support/stack.js";

const dir = mkdtempSync(join(tmpdir(), "tracebill-bench-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bench generator", () => {
  it("writes the number of records asked for, every line parses, and the shipped policy bills exactly the totals it computed", async () => {
    const g = await generateBenchExports(dir, 3_000, { tenants: 5 });
    expect(g.records).toBeGreaterThanOrEqual(3_000);
    expect(g.records).toBeLessThan(3_010);
    expect(await parseEveryLine(g.files)).toBe(g.records);
    const m = await mapAll(g.files, MAPPINGS);
    expect(m.quarantined).toBe(0);
    // Each billable call bills input and output (both are never 0 in the generated data).
    expect(m.events).toBe(2 * g.billableCalls);
    expect(m.totals).toEqual(g.totals);
    expect(Object.keys(g.totals)).toHaveLength(5);
  });

  it("is deterministic for a seed", async () => {
    const a = await generateBenchExports(mkdtempSync(join(dir, "a-")), 500, { seed: 3 });
    const b = await generateBenchExports(mkdtempSync(join(dir, "b-")), 500, { seed: 3 });
    expect(a.totals).toEqual(b.totals);
    expect(a.bytes).toBe(b.bytes);
  });
});

/** What CEL itself answers (the compiled fast paths must never differ from it). */
function celAnswer(e: CompiledExpr, ctx: CelContext): unknown {
  try {
    return fromCel(e.evaluateRaw!(ctx));
  } catch (err) {
    if (err instanceof CelRuntimeError && err.missing) return ABSENT;
    return `error: ${(err as Error).message}`;
  }
}

function fastAnswer(e: CompiledExpr, ctx: CelContext): unknown {
  try {
    return e.evaluate(ctx);
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

function expressions(m: CompiledMapping): CompiledExpr[] {
  return [
    ...m.customer,
    ...(m.subscription ? [m.subscription] : []),
    ...m.rules.map((r) => r.skipWhen),
    ...m.metrics.flatMap((x) => [...x.properties.map((p) => p.value), ...x.events.flatMap((e) => [e.quantity, ...e.properties.map((p) => p.value)])]),
  ];
}

describe("compiled expressions", () => {
  it("give exactly CEL's answer on every fixture, example and generated record, for every shipped mapping", async () => {
    const set = await loadMappingSet(MAPPINGS);
    const mappings = [...set.mappings, ...(set.disabled ?? [])];
    const files = (sub: string) => readdirSync(join(ROOT, sub), { recursive: true, withFileTypes: true })
      .filter((f) => f.isFile() && /\.(jsonl?|csv|parquet)$/.test(f.name))
      .map((f) => join(f.parentPath, f.name));
    const records: TraceRecord[] = [];
    for (const input of [...files("test/fixtures/langsmith"), ...files("test/fixtures/langfuse"), ...files("examples"), ...(await generateBenchExports(mkdtempSync(join(dir, "c-")), 600)).files]) {
      try {
        for await (const item of readInputs([input])) if (item.kind === "record") records.push(item.record);
      } catch {
        // Not an input on its own (e.g. a file only detection tests use).
      }
    }
    expect(records.length).toBeGreaterThan(500);
    let compared = 0;
    for (const m of mappings) {
      for (const r of records) {
        let view: object;
        try {
          view = celRecord(r);
        } catch {
          continue;
        }
        for (const customer of [undefined, "acme"]) {
          const ctx: CelContext = { record: view, ...(m.params ? { params: m.params } : {}), ...(customer ? { customer } : {}) };
          for (const e of expressions(m)) {
            expect(fastAnswer(e, ctx), `${m.name} ${e.at} \`${e.source}\` on ${r.recordId}`).toEqual(celAnswer(e, ctx));
            compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  });
});
