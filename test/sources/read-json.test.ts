import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { sniffContainer } from "../../src/sources/formats/container.js";
import { readContainer, type RawItem } from "../../src/sources/read-raw.js";
import { tempFile } from "./helpers.js";

async function all(path: string, encoding: "jsonl" | "json-array"): Promise<RawItem[]> {
  const out: RawItem[] = [];
  for await (const item of readContainer(path, encoding, null)) out.push(item);
  return out;
}

const sniffEncoding = async (path: string) => sniffContainer(await readFile(path));

describe("readRaw: JSONL", () => {
  it("tolerates a BOM, CRLF and blank lines; positions are 1-based physical lines", async () => {
    const path = await tempFile("a.jsonl", "\uFEFF\r\n\r\n" + '{"a":1}\r\n' + "\r\n" + '{"b":2}\r\n');
    expect(await all(path, "jsonl")).toEqual([
      { ok: true, value: { a: 1 }, position: "line 3" },
      { ok: true, value: { b: 2 }, position: "line 5" },
    ]);
  });

  it("a bad line is reported and reading goes on", async () => {
    const path = await tempFile("b.jsonl", '{"a":1}\n{"a":\n[1,2]\n"text"\nnull\n{"b":2}\n');
    const items = await all(path, "jsonl");
    expect(items.map((i) => (i.ok ? `ok ${i.position}` : `${i.position}: ${i.reason}`))).toEqual([
      "ok line 1",
      expect.stringMatching(/^line 2: invalid JSON: /),
      "line 3: not a JSON object (got an array)",
      "line 4: not a JSON object (got a string)",
      "line 5: not a JSON object (got null)",
      "ok line 6",
    ]);
  });

  it("a last line without newline is read", async () => {
    const path = await tempFile("c.jsonl", '{"a":1}\n{"b":2}');
    expect((await all(path, "jsonl")).length).toBe(2);
  });
});

describe("readRaw: JSON array", () => {
  it("streams elements with 0-based index positions, BOM tolerated", async () => {
    const path = await tempFile("a.json", '\uFEFF\r\n[\r\n {"a":1},\r\n 2,\r\n {"b":{"c":[1]}}\r\n]\r\n');
    expect(await all(path, "json-array")).toEqual([
      { ok: true, value: { a: 1 }, position: "index 0" },
      { ok: false, position: "index 1", reason: "not a JSON object (got a number)" },
      { ok: true, value: { b: { c: [1] } }, position: "index 2" },
    ]);
  });

  it("a syntax error mid-file: every element before it is kept, then one entry at the failing index, then stop", async () => {
    const path = await tempFile("b.json", '[{"a":1},\n{"b":2},\n{"c": 3,,},\n{"d":4}]');
    const items = await all(path, "json-array");
    expect(items.slice(0, 2).map((i) => i.ok && i.value)).toEqual([{ a: 1 }, { b: 2 }]);
    expect(items[2]).toMatchObject({ ok: false, position: "index 2", reason: expect.stringMatching(/^invalid JSON: .*rest of the file was not read$/) });
    expect(items.length).toBe(3);
  });

  it("keeps every element before a late syntax error in a big file (Node would drop buffered ones)", async () => {
    const n = 20_000;
    const body = Array.from({ length: n }, (_, i) => JSON.stringify({ i, pad: "x".repeat(60) })).join(",\n");
    const path = await tempFile("big.json", `[${body},\n{oops}]`);
    const items = await all(path, "json-array");
    expect(items.filter((i) => i.ok).length).toBe(n);
    expect(items[n]).toMatchObject({ ok: false, position: `index ${n}` });
  });

  it("a truncated array reports the missing end", async () => {
    const path = await tempFile("c.json", '[{"a":1}, {"b":');
    const items = await all(path, "json-array");
    expect(items[0]).toMatchObject({ ok: true, position: "index 0" });
    expect(items[1]).toMatchObject({ ok: false, position: "index 1" });
  });

  it("the consumer can stop early", async () => {
    const path = await tempFile("d.json", "[" + Array.from({ length: 5000 }, (_, i) => `{"i":${i}}`).join(",") + "]");
    let seen = 0;
    for await (const _item of readContainer(path, "json-array", null)) if (++seen === 2) break;
    expect(seen).toBe(2);
  });
});

describe("sniffEncoding", () => {
  it.each([
    ["\uFEFF\r\n\n  [ {}", "json-array"],
    ['\n\n{"a":1}\n', "jsonl"],
  ])("%j → %s", async (content, expected) => {
    expect(await sniffEncoding(await tempFile("x", content))).toBe(expected);
  });

  it("reports what it found otherwise", async () => {
    expect(await sniffEncoding(await tempFile("x", "id name\n1 a\n"))).toEqual({ found: "id name\n1 a\n" });
    expect(await sniffEncoding(await tempFile("x", " \n\r\n"))).toEqual({ found: null });
  });
});
