import { describe, expect, it } from "vitest";
import { cacheSplitNotes, fromLangSmithBulkExportRun } from "../../../src/sources/langsmith/bulk-export.js";
import { fromLangSmithRun } from "../../../src/sources/langsmith/from-run.js";
import { readRaw } from "../../../src/sources/read-raw.js";
import { detectInput } from "../../../src/sources/registry.js";
import { asParquet, LANGSMITH_BULK_COLUMNS } from "../convert.js";
import { LS_RUNS, rawLine } from "../helpers.js";

describe("fromLangSmithBulkExportRun", () => {
  it("JSON text columns and quoted counts become the listRuns run; the workspace tenant_id is never a tenant", async () => {
    const run = await rawLine(LS_RUNS, 2);
    const row = { ...run, tenant_id: "4e1d7a9b", extra: JSON.stringify(run["extra"]), outputs: JSON.stringify(run["outputs"]), events: JSON.stringify(run["events"]), prompt_tokens: "2000" };
    const translated = fromLangSmithBulkExportRun(row);
    expect(translated["extra"]).toEqual(run["extra"]);
    expect(translated["prompt_tokens"]).toBe(2000);
    const record = fromLangSmithRun(translated);
    expect(record).toEqual({ ...fromLangSmithRun(run) });
    expect(record.attributes["tenant_id"]).toBeUndefined();
  });

  it("a JSON column that is not JSON is the reason", () => {
    expect(() => fromLangSmithBulkExportRun({ id: "r", run_type: "llm", extra: "{'metadata': None}" })).toThrow(/^extra: invalid JSON in the cell/);
  });
});

describe("cacheSplitNotes: what the bulk export cannot tell", () => {
  const llm = (over: Record<string, unknown>) => ({ id: "r", run_type: "llm", prompt_tokens: 100, ...over });
  it.each([
    ["usage_metadata with input_token_details", llm({ extra: { metadata: { usage_metadata: { input_tokens: 100, output_tokens: 1, input_token_details: { cache_read: 50 } } } } }), undefined],
    ["usage_metadata in the serialized message", llm({ outputs: { generations: [[{ message: { kwargs: { usage_metadata: { input_tokens: 100, output_tokens: 1, input_token_details: {} } } } }]] } }), undefined],
    ["usage_metadata without details", llm({ outputs: { usage_metadata: { input_tokens: 100, output_tokens: 1 } } }), [expect.stringMatching(/no input_token_details.*cache split is unknown/)]],
    ["server counts only", llm({}), [expect.stringMatching(/no usage_metadata.*cache split is unknown.*estimated/)]],
    ["a chain run", { id: "c", run_type: "chain", prompt_tokens: 100 }, undefined],
    ["an llm run with no usage at all", { id: "r", run_type: "LLM" }, undefined],
  ])("%s", (_label, run, expected) => {
    expect(cacheSplitNotes(run)).toEqual(expected);
  });

  it("reach the reader as per-record notes on the raw items", async () => {
    const runs = [await rawLine(LS_RUNS, 2), await rawLine(LS_RUNS, 23)];
    const path = await asParquet(runs, LANGSMITH_BULK_COLUMNS);
    const notes = [];
    for await (const item of readRaw(await detectInput(path))) notes.push(item.ok ? (item.notes ?? []) : item.reason);
    expect(notes).toEqual([[], [expect.stringMatching(/only LangSmith's own token counts/)]]);
  });
});
