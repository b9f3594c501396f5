import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { writeLangSmithRuns } from "../support/generate.js";
import { MAPPINGS, lagoTenantTotals, startStack, type Stack } from "../support/stack.js";

const TENANTS = ["acme", "globex"];

describe("mapping edits while the worker runs", () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("apply to the next sync without a restart; an invalid edit is refused and the last good set keeps billing", async () => {
    stack = await startStack({ customers: TENANTS });
    const dir = mkdtempSync(join(tmpdir(), "tb-reload-"));
    const mappings = join(dir, "mappings");
    const file = join(mappings, "llm-tokens.yaml");
    await import("node:fs").then((fs) => fs.mkdirSync(mappings));
    copyFileSync(join(MAPPINGS, "llm-tokens.yaml"), file);
    const original = readFileSync(file, "utf8");
    const sync = async (name: string, runs: number) => {
      const input = join(dir, name);
      const expected = await writeLangSmithRuns(input, runs, TENANTS);
      const id = await enqueueSync(stack!.redis, stack!.config, { destination: "lago", inputs: [input], mappingPath: mappings });
      return { s: await waitForSync(stack!.redis, stack!.config, id, undefined, 50), expected };
    };
    const add = (a: Record<string, { input: number; output: number }>, b: Record<string, { input: number; output: number }>) =>
      Object.fromEntries(TENANTS.map((t) => [t, { input: (a[t]?.input ?? 0) + (b[t]?.input ?? 0), output: (a[t]?.output ?? 0) + (b[t]?.output ?? 0) }]));

    const first = await sync("a.jsonl", 30);
    expect(first.s.warning).toBeNull();
    expect(lagoTenantTotals(stack.sandbox)).toEqual(first.expected);

    // A broken edit: the worker refuses it, says so, and bills with the last good policy.
    writeFileSync(file, original.replace("metrics:", "metrics: [oops"));
    const second = await sync("b.jsonl", 30);
    expect(second.s.warning).toMatch(/mapping edit refused/);
    expect(second.s.warning).toMatch(/llm-tokens\.yaml:\d+:\d+/);
    expect(lagoTenantTotals(stack.sandbox)).toEqual(add(first.expected, second.expected));

    // A valid edit applies to the next sync: prompt-cache reads are now billed as input.
    writeFileSync(file, original.replace("quantity: record.usage.input - record.usage.cacheRead", "quantity: record.usage.input"));
    const third = await sync("c.jsonl", 30);
    expect(third.s.warning).toBeNull();
    // writeLangSmithRuns: run i has cache_read (i % 3) * 20; billed input now includes it.
    const cacheReads = Object.fromEntries(TENANTS.map((t) => [t, 0]));
    for (let i = 0; i < 30; i++) cacheReads[TENANTS[i % TENANTS.length]!]! += (i % 3) * 20;
    const thirdBilled = Object.fromEntries(TENANTS.map((t) => [t, { input: third.expected[t]!.input + cacheReads[t]!, output: third.expected[t]!.output }]));
    expect(lagoTenantTotals(stack.sandbox)).toEqual(add(add(first.expected, second.expected), thirdBilled));
  });
});
