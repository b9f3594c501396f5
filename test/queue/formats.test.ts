import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { expandInputs } from "../../src/sources/registry.js";
import { runCli } from "../support/cli.js";
import { MAPPINGS, ROOT, openmeterTenantTotals, startStack, type Stack } from "../support/stack.js";
import { LANGFUSE_FIXTURE_TOTALS } from "../support/expected.js";

const BLOB = join(ROOT, "test/fixtures/langfuse/blob");
const LANGFUSE_TOTALS = LANGFUSE_FIXTURE_TOTALS;

describe("syncing a Langfuse blob-storage export directory", () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("bills the same totals as the JSONL twin; rows repeated at window edges are sent once", async () => {
    stack = await startStack({ customers: Object.keys(LANGFUSE_TOTALS) });
    const inputs = await expandInputs([BLOB]);
    expect(inputs.some((p) => p.includes("/scores/"))).toBe(true);
    expect(inputs.some((p) => p.includes("/manifests/"))).toBe(false);
    const id = await enqueueSync(stack.redis, stack.config, { destination: "openmeter", inputs, mappingPath: MAPPINGS });
    const s = await waitForSync(stack.redis, stack.config, id, undefined, 50);
    expect(s.dead).toBe(0);
    expect(s.already).toBeGreaterThan(0); // the overlapping rows
    expect(openmeterTenantTotals(stack.sandbox)).toEqual(LANGFUSE_TOTALS);
    expect(stack.sandbox.state.counts().openmeter.duplicatesStored).toBe(0);
    const scores = Object.entries(s.perInput).find(([p]) => p.includes("/scores/"));
    expect(scores?.[1].notes?.[0]).toMatch(/not billable/);
  });
});

describe("preview of other formats from the command line", () => {
  it("reads a directory and tells what an input lacks", async () => {
    const r = await runCli(["preview", "--format", "json", "test/fixtures/langsmith/bulk-export-zstd.parquet"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).events.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/note: .*bulk-export-zstd\.parquet: .*no prompt_token_details/);
  });

  it("refuses an unknown --source", async () => {
    const r = await runCli(["preview", "--source", "helicone", "test/fixtures/langfuse/traces.json"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/helicone/);
  });
});
