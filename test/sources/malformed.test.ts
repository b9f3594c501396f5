import { readFile, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { parquetMetadata } from "hyparquet";
import { describe, expect, it } from "vitest";
import { asParquet, LANGFUSE_BLOB_OBSERVATION_COLUMNS, LANGSMITH_BULK_COLUMNS, pq } from "./convert.js";
import { collect, tempFile } from "./helpers.js";

// Every container gives the same guarantee: a malformed record is quarantined with its file,
// position and reason, and every good record around it still comes through.

type Row = Record<string, unknown>;
const START = "2025-11-20T10:00:00.000Z";

/** A billable Langfuse generation in API shape (what the UI export also writes, camelCase). */
const obs = (id: string, over: Row = {}): Row => ({
  id, traceId: "t-1", type: "GENERATION", name: "ChatOpenAI", startTime: START, level: "DEFAULT",
  model: "gpt-4o", usageDetails: { input: 10, output: 2 }, metadata: { tenant_id: "acme" }, ...over,
});
/** The same generation as a blob-export row. */
const blob = (id: string, over: Row = {}): Row => ({
  id, trace_id: "t-1", type: "GENERATION", name: "ChatOpenAI", start_time: "2025-11-20 10:00:00.000", level: "DEFAULT",
  provided_model_name: "gpt-4o", usage_details: { input: "10", output: "2" }, metadata: { tenant_id: "acme" }, ...over,
});
/** A billable LangSmith llm run. */
const run = (id: string, over: Row = {}): Row => ({
  id, trace_id: id, run_type: "llm", name: "ChatOpenAI", status: "success", start_time: "2025-11-20T10:00:00.000000",
  end_time: "2025-11-20T10:00:01.000000", dotted_order: `20251120T100000000000Z${id}`,
  extra: { metadata: { tenant_id: "acme", ls_model_name: "gpt-4o", usage_metadata: { input_tokens: 10, output_tokens: 2, total_tokens: 12, input_token_details: { cache_read: 0 } } } },
  ...over,
});

/** Langfuse UI CSV: every cell quoted, dates as JSON strings, objects as JSON, null as nothing. */
function uiCsv(rows: Row[], eol = "\n"): string {
  const columns = Object.keys(rows[0] ?? {});
  const cell = (k: string, v: unknown) =>
    v === null || v === undefined ? "" : k.endsWith("Time") ? JSON.stringify(v) : typeof v === "string" ? v : JSON.stringify(v);
  const line = (cells: string[]) => cells.map((c) => `"${c.replace(/"/g, '""')}"`).join(",");
  return [line(columns), ...rows.map((r) => line(columns.map((k) => cell(k, r[k]))))].join(eol) + eol;
}
const jsonl = (rows: (Row | string)[], eol = "\n") => rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join(eol) + eol;
const ids = (records: { recordId: string }[]) => records.map((r) => r.recordId);
const quarantine = async (path: string) => {
  const { records, quarantined } = await collect([path]);
  return { ids: ids(records), q: quarantined.map((e) => `${e.position}: ${e.reason}`), inputs: quarantined.map((e) => e.input) };
};

describe("JSONL", () => {
  it("cut-off line, invalid JSON, wrong types, bad counts, missing id, unknown enum — each quarantined, the rest read", async () => {
    const path = await tempFile("obs.jsonl", "\uFEFF" + jsonl([
      obs("good-1"),
      '{"id":"cut","traceId":"t-1","type":"GENER',
      obs("nan", { usageDetails: { input: "NaN", output: 2 } }),
      obs("negative", { usageDetails: { input: -5, output: 2 } }),
      obs("absurd", { usageDetails: { input: 5e12, output: 2 } }),
      obs("wrong-type", { usageDetails: [10, 2] }),
      obs("", {}),
      obs("enum", { level: "FATAL" }),
      obs("good-2"),
    ], "\r\n"));
    const { ids, q, inputs } = await quarantine(path);
    expect(ids).toEqual(["good-1", "good-2"]);
    expect(inputs.every((i) => i === path)).toBe(true);
    expect(q).toEqual([
      expect.stringMatching(/^line 2: invalid JSON: /),
      "line 3: usageDetails.input: expected a number, got string",
      "line 4: usageDetails.input: negative token count -5",
      "line 5: usageDetails.input: implausible token count 5000000000000",
      "line 6: usageDetails: expected an object",
      "line 7: missing id",
      'line 8: level: unknown value "FATAL"',
    ]);
  });
});

describe("JSON array and API page documents", () => {
  it("a page with bad records: each quarantined at its index in the page", async () => {
    const path = await tempFile("page.json", JSON.stringify({ data: [obs("good-1"), obs("neg", { usageDetails: { input: -1 } }), 3, obs("good-2")], meta: { page: 1 } }, null, 2).replace(/\n/g, "\r\n"));
    const { ids, q } = await quarantine(path);
    expect(ids).toEqual(["good-1", "good-2"]);
    expect(q).toEqual(["data[1]: usageDetails.input: negative token count -1", "data[2]: not a JSON object (got a number)"]);
  });

  it("a cut-off page keeps every record before the cut and reports where it stopped", async () => {
    const text = JSON.stringify({ runs: [run("r-1"), run("r-2"), run("r-3")], cursors: { next: null } });
    const path = await tempFile("page.json", "{\n" + text.slice(1, text.indexOf('"id":"r-3"') + 20));
    const { ids, q } = await quarantine(path);
    expect(ids).toEqual(["r-1", "r-2"]);
    expect(q).toEqual([expect.stringMatching(/^runs\[2\]: invalid JSON: .*the rest of the file was not read$/)]);
  });

  it("JSONL of pages: a cut-off page line is one entry, the pages around it are read", async () => {
    const page = (runs: Row[]) => JSON.stringify({ runs, cursors: { next: "c" } });
    const path = await tempFile("pages.jsonl", [page([run("r-1"), run("bad", { run_type: "agent" })]), page([run("r-3")]).slice(0, 40), page([run("r-4")])].join("\n"));
    const { ids, q } = await quarantine(path);
    expect(ids).toEqual(["r-1", "r-4"]);
    expect(q).toEqual(['line 1 runs[1]: run_type: unknown value "agent"', expect.stringMatching(/^line 2: invalid JSON/)]);
  });
});

describe("CSV (Langfuse UI export)", () => {
  it("BOM, CRLF, multi-line cells; wrong cell count, invalid JSON cell, bad counts, missing id, unknown enum", async () => {
    const rows = [
      obs("good-1", { name: "multi\nline \"name\"" }),
      obs("bad-json"),
      obs("negative", { usageDetails: { input: -5, output: 2 } }),
      obs("nan-text", { usageDetails: { input: "NaN" } }),
      obs("", {}),
      obs("enum", { type: "WIDGET" }),
      obs("short"),
      obs("good-2"),
    ];
    const lines = uiCsv(rows, "\r\n").split("\r\n").map((l) => {
      if (l.startsWith('"bad-json"')) return l.replace('"{""input"":10,""output"":2}"', '"{""input"":10,"');
      if (l.startsWith('"short"')) return '"short","t-1","GENERATION"';
      return l;
    });
    const text = "\uFEFF" + lines.join("\r\n");
    const { ids, q } = await quarantine(await tempFile("obs.csv", text));
    expect(ids).toEqual(["good-1", "good-2"]);
    expect(q).toEqual([
      expect.stringMatching(/^row 2: usageDetails: invalid JSON in the cell/),
      "row 3: usageDetails.input: negative token count -5",
      "row 4: usageDetails.input: expected a number, got string",
      "row 5: missing id",
      'row 6: type: unknown value "WIDGET"',
      "row 7: expected 9 cells as in the header, got 3 (cut-off row or stray delimiter?)",
    ]);
  });

  it("a cut-off last row (unclosed quote) is one entry; every row before it is read", async () => {
    const text = uiCsv([obs("good-1"), obs("good-2"), obs("cut")]);
    const { ids, q } = await quarantine(await tempFile("obs.csv", text.slice(0, text.lastIndexOf('"cut"') + 30)));
    expect(ids).toEqual(["good-1", "good-2"]);
    expect(q).toEqual([expect.stringMatching(/^row 3: invalid CSV: Quote Not Closed.*the rest of the file was not read$/)]);
  });

  it("a stray quote mid-file ends the file there: what follows cannot be told apart any more", async () => {
    const text = uiCsv([obs("good-1"), obs("broken"), obs("after")]).replace('"broken"', '"bro"ken"');
    const { ids, q } = await quarantine(await tempFile("obs.csv", text));
    expect(ids).toEqual(["good-1"]);
    expect(q).toEqual([expect.stringMatching(/^row 2: invalid CSV: Invalid Closing Quote.*the rest of the file was not read$/)]);
  });
});

describe("CSV (Langfuse blob export)", () => {
  it("snake_case columns; counts quoted or not; bad ones reported under the export's column names", async () => {
    const header = ["id", "trace_id", "type", "start_time", "level", "provided_model_name", "usage_details", "metadata"];
    const line = (cells: string[]) => cells.map((c) => `"${c.replace(/"/g, '""')}"`).join(",");
    const row = (id: string, usage: string, over: Partial<Record<string, string>> = {}) =>
      line(header.map((h) => ({ id, trace_id: "t-1", type: "GENERATION", start_time: "2025-11-20 10:00:00.000000", level: "DEFAULT", provided_model_name: "gpt-4o", usage_details: usage, metadata: '{"tenant_id":"acme"}', ...over })[h] ?? ""));
    const path = await tempFile("observations.csv", [
      line(header),
      row("good-1", '{"input":10,"output":2}'),
      row("quoted", '{"input":"10","output":"2"}'),
      row("negative", '{"input":-3}'),
      row("absurd", '{"input":"99999999999999"}'),
      row("bad-time", '{"input":1}', { start_time: "20.11.2025 10:00" }),
      row("enum", '{"input":1}', { level: "FATAL" }),
      row("map", '[1,2]'),
    ].join("\r\n") + "\r\n");
    const { ids, q } = await quarantine(path);
    expect(ids).toEqual(["good-1", "quoted"]);
    expect(q).toEqual([
      "row 3: usage_details.input: negative token count -3",
      "row 4: usage_details.input: implausible token count 99999999999999",
      'row 5: startTime: not an ISO-8601 timestamp: "20.11.2025 10:00"',
      'row 6: level: unknown value "FATAL"',
      "row 7: usage_details: expected a map",
    ]);
  });
});

describe("Parquet", () => {
  it("LangSmith bulk export: invalid JSON text, bad counts, missing id, unknown enum, 1-based rows", async () => {
    const rows = [
      run("r-1"),
      { ...run("bad-extra"), extra: undefined, __extraText: '{"metadata": {"usage_metadata": {"input_tokens": NaN}}}' },
      run("negative", { prompt_tokens: -4, extra: {} }),
      run("", {}),
      run("enum", { run_type: "agent" }),
      run("r-2"),
    ];
    const columns = LANGSMITH_BULK_COLUMNS.map((c) => (c.name === "extra" ? pq.string("extra", (r) => (r["__extraText"] as string | undefined) ?? JSON.stringify(r["extra"] ?? null)) : c));
    const { ids, q } = await quarantine(await asParquet(rows, columns, { rowGroupSize: 2 }));
    expect(ids).toEqual(["r-1", "r-2"]);
    expect(q).toEqual([
      expect.stringMatching(/^row 2: extra: invalid JSON in the cell/),
      "row 3: prompt_tokens: negative token count -4",
      "row 4: missing id",
      'row 5: run_type: unknown value "agent"',
    ]);
  });

  it("Langfuse blob export: NaN and absurd counts in a MAP column", async () => {
    const rows = [blob("good-1"), blob("nan", { usage_details: { input: Number.NaN } }), blob("huge", { usage_details: { input: 2 ** 60 } }), blob("good-2")];
    const columns = LANGFUSE_BLOB_OBSERVATION_COLUMNS.map((c) => (c.name === "usage_details" ? pq.map("usage_details", "DOUBLE") : c));
    const { ids, q } = await quarantine(await asParquet(rows, columns));
    expect(ids).toEqual(["good-1", "good-2"]);
    expect(q).toEqual(["row 2: usage_details.input: not a finite number", "row 3: usage_details.input: implausible token count 1152921504606847000"]);
  });

  it("a row group that cannot be decoded is one entry; the other row groups are read", async () => {
    const path = await asParquet([run("r-1"), run("r-2"), run("r-3"), run("r-4"), run("r-5")], LANGSMITH_BULK_COLUMNS, { rowGroupSize: 2, codec: "UNCOMPRESSED" });
    const bytes = await readFile(path);
    const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const group = metadata.row_groups[1]!;
    const start = Number(group.columns[0]!.meta_data!.data_page_offset);
    bytes.fill(0xff, start, start + 24);
    await writeFile(path, bytes);
    const { ids, q } = await quarantine(path);
    expect(ids).toEqual(["r-1", "r-2", "r-5"]);
    expect(q).toEqual([expect.stringMatching(/^row 3: rows 3-4: cannot decode this row group/)]);
  });
});

describe("gzip", () => {
  it("a truncated gzip stream: every record before the cut is read, then one entry", async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => obs(`o-${i}`, { name: `call ${i} ${"x".repeat(40 + (i % 17))}` }));
    const zipped = gzipSync(jsonl(rows));
    const { ids, q } = await quarantine(await tempFile("obs.jsonl.gz", zipped.subarray(0, Math.floor(zipped.length * 0.6))));
    expect(ids.length).toBeGreaterThan(100);
    expect(ids).toEqual(rows.slice(0, ids.length).map((r) => r["id"]));
    expect(q).toEqual([`line ${ids.length + 1}: gzip data is truncated or corrupt (unexpected end of file); the rest of the file was not read`]);
  });

  it.each([
    ["CSV", (rows: Row[]) => uiCsv(rows, "\r\n"), "row"],
    ["JSON array", (rows: Row[]) => JSON.stringify(rows), "index"],
  ] as const)("%s inside gzip: BOM, CRLF and a bad record behave as uncompressed", async (_label, write, unit) => {
    const rows = [obs("good-1"), obs("neg", { usageDetails: { input: -1 } }), obs("good-2")];
    const { ids, q } = await quarantine(await tempFile("export.gz", gzipSync("\uFEFF" + write(rows))));
    expect(ids).toEqual(["good-1", "good-2"]);
    expect(q).toEqual([`${unit} ${unit === "row" ? 2 : 1}: usageDetails.input: negative token count -1`]);
  });
});
