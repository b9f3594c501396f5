import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { expandInputs } from "../../src/sources/registry.js";
import {
  asJsonArray, asPageDocument, asPagesJsonl, asParquet, dataPage, gzipped, itemsPage, jsonlLines,
  LANGFUSE_BLOB_OBSERVATION_COLUMNS, LANGFUSE_BLOB_TRACE_COLUMNS, LANGSMITH_BULK_COLUMNS, runsPage,
} from "./convert.js";
import { LF_OBSERVATIONS, LF_TRACES, LS_RUNS, LS_RUNS_V2, tempFile } from "./helpers.js";
import { billFiles, billOf, LF_BLOB, LF_UI, type Bill } from "./twins.js";

// Every export format of the same traces must bill exactly like the JSONL reference: the same
// tenants, totals and billed records (and the same records without a tenant, never guessed).

const rowsOf = async (path: string) => (await jsonlLines(path)).filter((l): l is Record<string, unknown> => typeof l !== "string");
const expectSameBill = (twin: Bill, reference: Bill) => {
  expect(twin.totals).toEqual(reference.totals);
  expect(twin.perRecord).toEqual(reference.perRecord);
  expect(twin.withoutTenant).toEqual(reference.withoutTenant);
};

describe("LangSmith twins of runs.jsonl", async () => {
  const reference = await billFiles([LS_RUNS]);

  it("the reference is the fixture whose totals fixture-totals.test.ts works out by hand", () => {
    expect(Object.keys(reference.totals).sort()).toEqual(["10987", "acme", "globex", "initech"]);
    expect(Object.keys(reference.perRecord).length).toBeGreaterThan(4);
  });

  const twins: [string, () => Promise<string[]>][] = [
    ["JSON array", async () => [await asJsonArray(LS_RUNS, "runs.json")]],
    ["gzip JSONL named .jsonl (magic bytes, not the name)", async () => [await gzipped(LS_RUNS, "runs.jsonl")]],
    ["/runs/query pages, one per JSONL line", async () => [await asPagesJsonl(LS_RUNS, runsPage, 5)]],
    ["/runs/query pages, gzip", async () => [await gzipped(await asPagesJsonl(LS_RUNS, runsPage, 4), "pages.jsonl.gz")]],
    ["one pretty-printed /runs/query page", async () => [await asPageDocument(await rowsOf(LS_RUNS), runsPage)]],
    ["bulk-export Parquet (snappy, several row groups)", async () => [await asParquet(await rowsOf(LS_RUNS), LANGSMITH_BULK_COLUMNS)]],
    ["bulk-export Parquet (gzip codec)", async () => [await asParquet(await rowsOf(LS_RUNS), LANGSMITH_BULK_COLUMNS, { codec: "GZIP", rowGroupSize: 100 })]],
  ];
  it.each(twins)("%s", async (_label, make) => {
    expectSameBill(await billFiles(await make()), reference);
  });

  it("v2 runs.query response pages bill like the v2 item array", async () => {
    const items = JSON.parse(await readFile(LS_RUNS_V2, "utf8")) as Record<string, unknown>[];
    const page = await asPageDocument(items, itemsPage, "v2-page.json");
    const pageLines = await tempFile("v2-pages.jsonl", [itemsPage(items.slice(0, 2)), itemsPage(items.slice(2))].map((p) => JSON.stringify(p)).join("\n") + "\n");
    const v2Reference = await billFiles([LS_RUNS_V2]);
    expect(Object.keys(v2Reference.totals).sort()).toEqual(["acme", "initech"]);
    expectSameBill(await billFiles([page]), v2Reference);
    expectSameBill(await billFiles([pageLines]), v2Reference);
  });
});

describe("Langfuse twins of observations.jsonl + traces.json", async () => {
  const reference = await billFiles([LF_OBSERVATIONS, LF_TRACES]);

  it("the reference is the fixture whose totals fixture-totals.test.ts works out by hand", () => {
    expect(Object.keys(reference.totals).sort()).toEqual(["10987", "acme", "globex", "initech"]);
    expect(reference.withoutTenant).toEqual(["2fa42be9e15e9680"]);
  });

  const blobRows = async (paths: string[]) => (await Promise.all(paths.map(rowsOf))).flat();
  const twins: [string, () => Promise<string[]>][] = [
    ["API JSON array", async () => [await asJsonArray(LF_OBSERVATIONS, "observations.json"), LF_TRACES]],
    ["API response pages ({data, meta}) per line, gzip", async () => [await gzipped(await asPagesJsonl(LF_OBSERVATIONS, dataPage, 6), "observations"), LF_TRACES]],
    ["UI export CSV (observations + traces)", async () => [LF_UI.observationsCsv, LF_UI.tracesCsv]],
    ["UI export CSV, gzip", async () => [await gzipped(LF_UI.observationsCsv, "observations.csv.gz"), await gzipped(LF_UI.tracesCsv, "traces.csv.gz")]],
    ["UI export JSONL + traces CSV", async () => [LF_UI.observationsJsonl, LF_UI.tracesCsv]],
    ["UI export JSON (one array, as Langfuse writes it)", async () => [await asJsonArray(LF_UI.observationsJsonl, "observations.json"), LF_UI.tracesCsv]],
    ["blob export, legacy tables, JSONL, two overlapping windows", async () => [LF_BLOB.observations1, LF_BLOB.observations2, LF_BLOB.traces1, LF_BLOB.traces2]],
    ["blob export, gzip JSONL (.jsonl.gz)", async () => Promise.all([LF_BLOB.observations1, LF_BLOB.observations2, LF_BLOB.traces1, LF_BLOB.traces2].map((p, i) => gzipped(p, `${i}.jsonl.gz`)))],
    ["blob export, JSON arrays", async () => Promise.all([LF_BLOB.observations1, LF_BLOB.observations2, LF_BLOB.traces1, LF_BLOB.traces2].map((p, i) => asJsonArray(p, `${i}.json`)))],
    ["blob export directory (scores and manifests skipped)", async () => expandInputs([LF_BLOB.dir])],
    ["blob export, observations_v2 + traces, CSV", async () => [LF_BLOB.observationsV2Csv, LF_BLOB.tracesCsv]],
    ["blob export, Parquet (MAP, TIMESTAMP columns)", async () => [
      await asParquet(await blobRows([LF_BLOB.observations1, LF_BLOB.observations2]), LANGFUSE_BLOB_OBSERVATION_COLUMNS, { name: "observations.parquet" }),
      await asParquet(await blobRows([LF_BLOB.traces1, LF_BLOB.traces2]), LANGFUSE_BLOB_TRACE_COLUMNS, { name: "traces.parquet" }),
    ]],
  ];
  it.each(twins)("%s", async (_label, make) => {
    expectSameBill(await billFiles(await make()), reference);
  });

  it.each([
    ["the UI observations CSV", LF_UI.observationsCsv],
    ["the blob observations_v2 CSV", LF_BLOB.observationsV2Csv],
  ])("%s alone carries the trace's user and tags but not its metadata: no tenant is guessed", async (_label, path) => {
    const { collected, totals } = await billFiles([path]);
    // Only the generation whose own metadata names its tenant bills.
    expect(Object.keys(totals)).toEqual(["acme"]);
    const served = collected.records.find((r) => r.recordId === "fc6c16c130eb4bdf");
    expect(served).toMatchObject({ userId: "user-42", tags: ["prod"] });
    expect(served?.attributes["tenant_id"]).toBeUndefined();
  });

  it("overlapping blob windows yield the rows at the shared bound twice; they bill once", async () => {
    const { collected } = await billFiles([LF_BLOB.observations1, LF_BLOB.observations2, LF_BLOB.traces1, LF_BLOB.traces2]);
    const edge = collected.records.filter((r) => r.recordId === "time-12-30-00-100231_chatcmpl-B7xGlobex0001");
    expect(edge.length).toBe(2);
    expect(edge[0]).toEqual(edge[1]);
    expect(billOf(collected.records).totals).toEqual(reference.totals);
  });
});
