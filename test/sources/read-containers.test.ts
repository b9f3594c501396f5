import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readContainer, type RawItem } from "../../src/sources/read-raw.js";
import type { Container } from "../../src/sources/source.js";
import { asParquet, pq } from "./convert.js";
import { tempFile } from "./helpers.js";

async function all(path: string, container: Container, compression: "gzip" | null = null): Promise<RawItem[]> {
  const out: RawItem[] = [];
  for await (const item of readContainer(path, container, compression)) out.push(item);
  return out;
}
const brief = (items: RawItem[]) => items.map((i) => (i.ok ? `${i.position} ${JSON.stringify(i.value)}` : `${i.position} ! ${i.reason}`));

describe("positions per container", () => {
  it("CSV: data rows, 1-based, header excluded, whatever multi-line cells and blank lines do to line numbers", async () => {
    const path = await tempFile("x.csv", '"a","b"\r\n"1","two\r\nlines"\r\n\r\n"2",""\r\n');
    expect(brief(await all(path, "csv"))).toEqual(['row 1 {"a":"1","b":"two\\r\\nlines"}', 'row 2 {"a":"2","b":null}']);
  });

  it("CSV: a header alone has no records", async () => {
    expect(await all(await tempFile("x.csv", '"a","b"\n'), "csv")).toEqual([]);
  });

  it("Parquet: rows, 1-based, continuing across row groups; INT64 as numbers, timestamps as ISO", async () => {
    const rows = Array.from({ length: 5 }, (_, i) => ({ n: i, t: `2025-11-20T10:00:0${i}.000123Z` }));
    const path = await asParquet(rows, [pq.int64("n"), pq.timestamp("t")], { rowGroupSize: 2 });
    expect(brief(await all(path, "parquet"))).toEqual(rows.map((r, i) => `row ${i + 1} ${JSON.stringify({ n: r.n, t: r.t.replace("123Z", "Z") })}`));
  });

  it("JSON document: a page's records by key and index; a lone object is one record; a scalar is not a record", async () => {
    const page = await tempFile("p.json", '{"meta": {"page": 1},\n "data": [{"id": 1}, {"id": 2}]}');
    expect(brief(await all(page, "json-document"))).toEqual(['data[0] {"id":1}', 'data[1] {"id":2}']);
    const lone = await tempFile("r.json", '{\n  "id": "r1",\n  "tags": ["a"],\n  "runs": "not a page"\n}');
    expect(brief(await all(lone, "json-document"))).toEqual(['document {"id":"r1","tags":["a"],"runs":"not a page"}']);
    expect(brief(await all(await tempFile("s.json", "42"), "json-document"))).toEqual(["document ! not a JSON object (got a number)"]);
  });

  it("gzip JSONL: physical lines of the decompressed text", async () => {
    const path = await tempFile("x.gz", gzipSync('{"a":1}\r\n\r\n{"b":2}'));
    expect(brief(await all(path, "jsonl", "gzip"))).toEqual(['line 1 {"a":1}', 'line 3 {"b":2}']);
  });
});

describe("the consumer can stop early, in every container", () => {
  const many = Array.from({ length: 3000 }, (_, i) => ({ i, pad: "x".repeat(50) }));
  it.each([
    ["jsonl gzip", async () => tempFile("a.gz", gzipSync(many.map((r) => JSON.stringify(r)).join("\n"))), "jsonl", "gzip"],
    ["json array", async () => tempFile("a.json", JSON.stringify(many)), "json-array", null],
    ["json page", async () => tempFile("a.json", JSON.stringify({ items: many, next_cursor: null })), "json-document", null],
    ["csv", async () => tempFile("a.csv", '"i","pad"\n' + many.map((r) => `"${r.i}","${r.pad}"`).join("\n")), "csv", null],
    ["parquet", async () => asParquet(many, [pq.int64("i"), pq.string("pad", (r) => r["pad"])], { rowGroupSize: 500 }), "parquet", null],
  ] as const)("%s", async (_label, make, container, compression) => {
    const path = await make();
    let seen = 0;
    for await (const item of readContainer(path, container, compression)) {
      expect(item.ok).toBe(true);
      if (++seen === 2) break;
    }
    expect(seen).toBe(2);
    // And the file can be read again from the start (nothing left locked or half-consumed).
    const first = (await readContainer(path, container, compression).next()).value as RawItem;
    expect(first.ok && Number(first.value["i"])).toBe(0);
  });
});
