import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { UserError } from "../../src/model/index.js";
import { detectInput, expandInputs } from "../../src/sources/registry.js";
import { asPageDocument, asParquet, gzipped, jsonlLines, LANGSMITH_BULK_COLUMNS, runsPage } from "./convert.js";
import { billedTotals, collect, LF_OBSERVATIONS, LF_TRACES, LS_RUNS, repoPath, tempFile } from "./helpers.js";
import { LF_BLOB, LF_UI } from "./twins.js";

const LS_ZSTD = repoPath("test/fixtures/langsmith/bulk-export-zstd.parquet");
const rowsOf = async (path: string) => (await jsonlLines(path)).filter((l): l is Record<string, unknown> => typeof l !== "string");

describe("detectInput: every export, from content", () => {
  it.each([
    ["UI export observations CSV", LF_UI.observationsCsv, { platform: "langfuse", kind: "langfuse-observations", container: "csv", dialect: "langfuse-ui-export" }],
    ["UI export traces CSV", LF_UI.tracesCsv, { kind: "langfuse-traces", container: "csv", dialect: "langfuse-ui-export" }],
    ["UI export observations JSONL", LF_UI.observationsJsonl, { kind: "langfuse-observations", container: "jsonl", dialect: "langfuse-ui-export" }],
    ["blob observations JSONL (first row an unknown type)", LF_BLOB.observations2, { kind: "langfuse-observations", container: "jsonl", dialect: "langfuse-blob-export" }],
    ["blob traces JSONL", LF_BLOB.traces1, { kind: "langfuse-traces", dialect: "langfuse-blob-export" }],
    ["blob observations_v2 CSV", LF_BLOB.observationsV2Csv, { kind: "langfuse-observations", container: "csv", dialect: "langfuse-blob-export" }],
    ["blob traces CSV", LF_BLOB.tracesCsv, { kind: "langfuse-traces", container: "csv", dialect: "langfuse-blob-export" }],
    ["LangSmith bulk export, zstd Parquet", LS_ZSTD, { platform: "langsmith", kind: "langsmith-runs", container: "parquet", compression: null, dialect: "langsmith-bulk-export" }],
  ])("%s", async (_label, path, expected) => {
    expect(await detectInput(path)).toMatchObject({ path, compression: null, ...expected });
  });

  it("gzip by magic bytes, whatever the name; pages and documents", async () => {
    const gz = await gzipped(LS_RUNS, "runs.json");
    expect(await detectInput(gz)).toMatchObject({ kind: "langsmith-runs", container: "jsonl", compression: "gzip", dialect: "api" });
    const plainGz = await tempFile("runs.jsonl.gz", await readFile(LS_RUNS));
    expect(await detectInput(plainGz)).toMatchObject({ compression: null, container: "jsonl" });
    const page = await asPageDocument((await rowsOf(LS_RUNS)).slice(0, 3), runsPage);
    expect(await detectInput(page)).toMatchObject({ kind: "langsmith-runs", container: "json-document" });
  });

  it("scores are recognised, not billable, and say so", async () => {
    const input = await detectInput(LF_BLOB.scores);
    expect(input).toMatchObject({ kind: "langfuse-scores", dialect: "langfuse-blob-export" });
    expect(input.notes).toEqual(["Langfuse scores are evaluations, not model usage: not billable, skipped"]);
    const api = await tempFile("scores.json", JSON.stringify([{ id: "s1", traceId: "t1", name: "helpfulness", value: 1, source: "API", dataType: "NUMERIC", timestamp: "2025-11-20T10:00:00.000Z" }]));
    expect(await detectInput(api)).toMatchObject({ kind: "langfuse-scores", dialect: "api", notes: [expect.stringMatching(/not billable/)] });
    const { records, quarantined } = await collect([LF_BLOB.scores, LF_OBSERVATIONS, LF_TRACES]);
    expect(quarantined.filter((q) => q.input === LF_BLOB.scores)).toEqual([]);
    expect(records.some((r) => r.recordId.startsWith("3f0a9c1e"))).toBe(false);
  });

  it("the LangSmith bulk export says it has no prompt_token_details", async () => {
    expect((await detectInput(LS_ZSTD)).notes).toEqual([expect.stringMatching(/no prompt_token_details column/)]);
  });

  it("a zstd bulk export (the LangSmith default) bills like its JSONL lines", async () => {
    const { records } = await collect([LS_ZSTD]);
    expect(billedTotals(records).totals).toEqual({ acme: { input: 464, output: 700 } });
  });

  it("overrides force kind, platform or container", async () => {
    const unknown = await tempFile("odd.csv", '"id","traceId","type","startTime","usageDetails"\n"o1","t1","GENERATION","""2025-11-20T10:00:00.000Z""","{""input"":1}"\n');
    expect(await detectInput(unknown)).toMatchObject({ kind: "langfuse-observations", dialect: "langfuse-ui-export" });
    const bare = await tempFile("bare.csv", '"id","name"\n"o1","x"\n');
    await expect(detectInput(bare)).rejects.toThrow(UserError);
    expect(await detectInput(bare, { kind: "langfuse-observations" })).toMatchObject({ kind: "langfuse-observations", container: "csv", dialect: "langfuse-ui-export" });
    expect(await detectInput(LS_RUNS, { container: "jsonl", platform: "langsmith" })).toMatchObject({ kind: "langsmith-runs" });
    await expect(detectInput(LS_RUNS, { platform: "langfuse" })).rejects.toThrow(/not a recognised trace export/);
  });

  it.each([
    ["gzip-compressed Parquet", async () => gzipped(await asParquet((await rowsOf(LS_RUNS)).slice(0, 2), LANGSMITH_BULK_COLUMNS), "x.parquet.gz"), /gzip-compressed Parquet file; .*decompress the file first/],
    ["a Parquet file with a broken footer", async () => tempFile("x.parquet", Buffer.concat([Buffer.from("PAR1"), Buffer.alloc(64, 7)])), /not a recognised trace export \(no readable record in the first 1; row 1: not a readable Parquet file/],
    ["an empty gzip", async () => tempFile("x.gz", gzipSync("")), /the file is empty/],
    ["a directory", async () => dirname(await tempFile("a.json", "[]")), /cannot read the file \(EISDIR\)/],
  ])("%s is a UserError naming the file", async (_label, make, message) => {
    const path = await make();
    const error = await detectInput(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(path);
  });
});

describe("expandInputs", () => {
  it("a blob export directory: every table file, recursively and sorted; manifests and hidden files skipped", async () => {
    const files = await expandInputs([LF_BLOB.dir]);
    const rel = files.map((f) => f.slice(LF_BLOB.dir.length + 1));
    expect(rel).toEqual([
      "cm3x9a1b20004qz8k7d1f2e3a/observations/2025-11-20T12-30-00.jsonl",
      "cm3x9a1b20004qz8k7d1f2e3a/observations/2025-11-20T16-00-00.jsonl",
      "cm3x9a1b20004qz8k7d1f2e3a/scores/2025-11-20T16-00-00.jsonl",
      "cm3x9a1b20004qz8k7d1f2e3a/traces/2025-11-20T12-30-00.jsonl",
      "cm3x9a1b20004qz8k7d1f2e3a/traces/2025-11-20T16-00-00.jsonl",
    ]);
  });

  it("files as given, globs, duplicates once, other files in a directory ignored", async () => {
    const root = dirname(await tempFile("a.jsonl", "{}\n"));
    const files: [string, string][] = [["b/c.csv.gz", "x"], ["b/notes.txt", "x"], [".hidden/d.json", "x"], ["b/manifests/m.json", "{}"], ["b/e.parquet", "x"]];
    for (const [name, body] of files) {
      await mkdir(dirname(join(root, name)), { recursive: true });
      await writeFile(join(root, name), body);
    }
    await symlink(root, join(root, "b", "loop"));
    expect(await expandInputs([root])).toEqual([join(root, "a.jsonl"), join(root, "b/c.csv.gz"), join(root, "b/e.parquet")]);
    expect(await expandInputs([join(root, "a.jsonl"), `${root}/**/*.{jsonl,parquet,json}`])).toEqual([join(root, "a.jsonl"), join(root, "b/e.parquet")]);
    expect(await expandInputs([join(root, "b/notes.txt")])).toEqual([join(root, "b/notes.txt")]);
    // Hidden directories are skipped below a pattern's wildcard, not where the user named them.
    expect(await expandInputs([`${root}/.hidden/*.json`])).toEqual([join(root, ".hidden/d.json")]);
    await expect(expandInputs([`${root}/**/*.json`])).rejects.toThrow(/no export file matches/);
  });

  it.each([
    [["/nonexistent/export.jsonl"], /\/nonexistent\/export\.jsonl: no such file or directory/],
    [["/nonexistent/**/*.jsonl"], /no export file matches this pattern/],
  ])("%j is a UserError", async (args, message) => {
    await expect(expandInputs(args)).rejects.toThrow(message);
  });

  it("an empty directory is a UserError", async () => {
    const dir = join(dirname(await tempFile("x.txt", "")), "empty");
    await mkdir(dir);
    await expect(expandInputs([dir])).rejects.toThrow(/no export files in this directory/);
  });
});
