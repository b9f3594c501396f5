import { copyFile, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { UserError } from "../../src/model/index.js";
import { detectInput, readInputs, sources } from "../../src/sources/registry.js";
import { byId, collect, LF_OBSERVATIONS, LF_TRACES, LS_RUNS, LS_RUNS_V2, tempFile } from "./helpers.js";

describe("detectInput", () => {
  it.each([
    [LS_RUNS, "langsmith", "langsmith-runs", "jsonl"],
    [LS_RUNS_V2, "langsmith", "langsmith-runs", "json-array"],
    [LF_OBSERVATIONS, "langfuse", "langfuse-observations", "jsonl"],
    [LF_TRACES, "langfuse", "langfuse-traces", "json-array"],
  ])("%s", async (path, platform, kind, container) => {
    expect(await detectInput(path)).toEqual({ path, platform, kind, container, compression: null, dialect: "api" });
  });

  it("detects from content, not the file name", async () => {
    const misnamed = await tempFile("traces.json", await readFile(LF_OBSERVATIONS));
    expect(await detectInput(misnamed)).toMatchObject({ kind: "langfuse-observations", container: "jsonl" });
  });

  it("tolerates a BOM, CRLF and leading blank lines", async () => {
    const lines = (await readFile(LS_RUNS, "utf8")).split("\n").slice(0, 3).join("\r\n");
    const path = await tempFile("runs.txt", "\uFEFF\r\n\r\n" + lines + "\r\n");
    expect(await detectInput(path)).toMatchObject({ kind: "langsmith-runs", container: "jsonl" });
  });

  it("looks past a malformed first line", async () => {
    const text = await readFile(LF_OBSERVATIONS, "utf8");
    const path = await tempFile("obs.jsonl", '{"id": "cut-off\n' + text);
    expect(await detectInput(path)).toMatchObject({ kind: "langfuse-observations" });
  });

  it("a Langfuse trace is not mistaken for an observation, nor a LangSmith run for either", async () => {
    const trace = await tempFile("t.jsonl", JSON.stringify({ id: "t1", timestamp: "2025-11-20T10:00:00.000Z", userId: "u", metadata: {} }) + "\n");
    const obs = await tempFile("o.jsonl", JSON.stringify({ id: "o1", traceId: "t1", type: "SPAN", startTime: "2025-11-20T10:00:00.000Z" }) + "\n");
    const run = await tempFile("r.jsonl", JSON.stringify({ id: "r1", trace_id: "r1", session_id: "p", start_time: "2025-11-20T10:00:00" }) + "\n");
    expect((await detectInput(trace)).kind).toBe("langfuse-traces");
    expect((await detectInput(obs)).kind).toBe("langfuse-observations");
    expect((await detectInput(run)).kind).toBe("langsmith-runs");
  });

  it.each([
    ["an unrecognised object", "other.jsonl", '{"foo": 1, "bar": 2}\n', /other\.jsonl: not a recognised trace export \(the first record has keys foo, bar\); expected LangSmith runs/],
    ["an empty file", "empty.json", "", /empty\.json: the file is empty; expected LangSmith runs/],
    ["an empty array", "none.json", "[]\n", /none\.json: no records in the file; expected/],
    ["a CSV of something else", "export.csv", '"id","traceId"\n"1","2"\n', /export\.csv: not a recognised trace export \(the first record has keys id, traceId\)/],
    ["an empty API page", "page.json", '{\n  "runs": []\n}\n', /page\.json: no records in the file/],
    ["plain text", "notes.txt", "hello world\n", /notes\.txt: not JSON, JSONL, CSV or Parquet \(starts with "hello world/],
  ])("%s is a UserError naming the file and saying what was expected", async (_label, name, content, message) => {
    const path = await tempFile(name, content);
    const error = await detectInput(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(path);
  });

  it("a missing file is a UserError naming it", async () => {
    await expect(detectInput("/nonexistent/dir/runs.jsonl")).rejects.toThrow(/\/nonexistent\/dir\/runs\.jsonl: cannot read the file \(ENOENT\)/);
  });
});

describe("readInputs: quarantine", () => {
  it("bad lines and bad records are quarantined with input, position and reason; good records still come through", async () => {
    const { records, quarantined } = await collect([LS_RUNS]);
    expect(quarantined).toEqual([
      { input: LS_RUNS, position: "line 10", reason: expect.stringMatching(/^invalid JSON: /) },
      { input: LS_RUNS, position: "line 17", reason: "extra.metadata.usage_metadata.input_tokens: negative token count -5" },
      { input: LS_RUNS, position: "line 24", reason: "missing id" },
      { input: LS_RUNS, position: "line 29", reason: 'run_type: unknown value "agent"' },
    ]);
    expect(records.length).toBe(28);
  });

  it("JSON-array inputs report indexes; context-only inputs (traces) report theirs once", async () => {
    const { quarantined } = await collect([LS_RUNS_V2, LF_OBSERVATIONS, LF_TRACES]);
    expect(quarantined).toContainEqual({ input: LS_RUNS_V2, position: "index 2", reason: 'status: unknown value "DONE"' });
    expect(quarantined.filter((q) => q.input === LF_TRACES)).toEqual([{ input: LF_TRACES, position: "index 4", reason: "missing id" }]);
    expect(quarantined.filter((q) => q.input === LF_OBSERVATIONS).map((q) => q.position)).toEqual(["line 7", "line 11", "line 14", "line 22"]);
  });

  it("a JSON-array syntax error stops that file only; records before it still count", async () => {
    const good = (await readFile(LS_RUNS, "utf8")).split("\n").slice(0, 3);
    const broken = await tempFile("runs.json", `[${good.join(",\n")},\n{"id": "x", "run_type": ,\n${good[0]}]`);
    const { records, quarantined } = await collect([broken, LF_OBSERVATIONS, LF_TRACES]);
    expect(records.filter((r) => r.platform === "langsmith").map((r) => r.name)).toEqual(["support-chat", "ChatOpenAI", "rag-answer"]);
    expect(quarantined).toContainEqual({ input: broken, position: "index 3", reason: expect.stringMatching(/rest of the file was not read/) });
    expect(records.filter((r) => r.platform === "langfuse").length).toBe(19);
  });

  it("an unrecognisable input fails before anything is yielded", async () => {
    const bad = await tempFile("notes.jsonl", '{"note": "hello"}\n');
    const iterator = readInputs([LS_RUNS, bad])[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toThrow(UserError);
  });
});

describe("readInputs: joining records to their trace context", () => {
  it("LangSmith children inherit the root's tenant; own metadata wins; tags are unioned", async () => {
    const { records } = await collect([LS_RUNS]);
    const child = byId(records, "019aa08b-b6f8-7ec7-8428-4cab7e98d192");
    expect(child.attributes).toMatchObject({ tenant_id: "acme", feature: "support-chat", user_id: "u-1042" });
    expect(child.userId).toBe("u-1042");
    expect(child.feature).toBe("support-chat");
    expect(child.tags).toEqual(["prod"]);
    const retriever = byId(records, "019aa0a2-be82-76c8-82c4-73f0901d8a64");
    expect(retriever.tags).toEqual(["seq:step:1", "prod", "rag"]);
  });

  it("own attributes come before the root's", async () => {
    const lines = (await readFile(LS_RUNS, "utf8")).split("\n");
    const root = JSON.parse(lines[0] ?? "") as { extra: { metadata: Record<string, unknown> } };
    const child = JSON.parse(lines[1] ?? "") as { extra: { metadata: Record<string, unknown> } };
    child.extra.metadata["feature"] = "billing-faq";
    child.extra.metadata["tenant_id"] = null; // a null must not hide the root's value
    const path = await tempFile("runs.jsonl", `${JSON.stringify(child)}\n${JSON.stringify(root)}\n`);
    const { records } = await collect([path]);
    expect(records[0]?.attributes).toMatchObject({ tenant_id: "acme", feature: "billing-faq" });
    expect(records[0]?.feature).toBe("billing-faq");
  });

  it("LangSmith fallback chain: the served call's requested model is the first attempt's", async () => {
    const { records } = await collect([LS_RUNS]);
    const served = byId(records, "019aa127-db06-70e9-96d0-b8530ec1146e");
    expect(served).toMatchObject({ status: "success", modelRequested: "gpt-4o", modelExecuted: "claude-3-5-haiku-20241022" });
    expect(served.attributes["tenant_id"]).toBe(10987);
    const failed = byId(records, "019aa127-d642-731f-90f8-45fd25e5900b");
    expect(failed).toMatchObject({ status: "error", modelRequested: "gpt-4o" });
  });

  it("the first attempt is chosen by dotted_order, not file order", async () => {
    const lines = (await readFile(LS_RUNS, "utf8")).split("\n");
    const reversed = await tempFile("runs.jsonl", [lines[15], lines[14], lines[13], lines[12]].join("\n") + "\n");
    const { records } = await collect([reversed]);
    expect(byId(records, "019aa127-db06-70e9-96d0-b8530ec1146e").modelRequested).toBe("gpt-4o");
  });

  it("a retry chain is not a fallback chain: each attempt keeps its own requested model", async () => {
    const { records } = await collect([LS_RUNS]);
    expect(byId(records, "18fef192-7edf-43ad-a895-60d98a58aa4e").modelRequested).toBe("gpt-4o-mini");
  });

  it("Langfuse observations get tenant, userId, sessionId and tags from their trace", async () => {
    const { records } = await collect([LF_OBSERVATIONS, LF_TRACES]);
    const gen = byId(records, "fc6c16c130eb4bdf");
    expect(gen).toMatchObject({ userId: "user-42", sessionId: "sess-9f1c", tags: ["prod"], feature: "support-chat" });
    expect(gen.attributes["tenant_id"]).toBe("acme");
    const served = byId(records, "0134a05a89bee90b");
    expect(served).toMatchObject({ modelRequested: "gpt-4o", modelExecuted: "claude-3-5-haiku-20241022" });
    expect(served.attributes["customer_id"]).toBe(10987);
  });

  it("a trace tagged cache_hit:True marks its generations, unless one says cache_hit: false", async () => {
    const base = { traceId: "t-hit", type: "GENERATION", startTime: "2025-11-20T10:00:00.000Z", model: "gpt-4o", usageDetails: { input: 10, output: 2 } };
    const obs = await tempFile("obs.jsonl", [
      JSON.stringify({ ...base, id: "plain" }),
      JSON.stringify({ ...base, id: "explicit-miss", metadata: { cache_hit: false } }),
      JSON.stringify({ ...base, id: "span", type: "SPAN", usageDetails: undefined }),
    ].join("\n"));
    const traces = await tempFile("traces.json", JSON.stringify([{ id: "t-hit", timestamp: "2025-11-20T10:00:00.000Z", tags: ["cache_hit:True"], metadata: { tenant_id: "globex" } }]));
    const { records } = await collect([obs, traces]);
    expect(byId(records, "plain")).toMatchObject({ cacheHit: true, cacheHitSignal: "tag cache_hit:True" });
    expect(byId(records, "explicit-miss").cacheHit).toBe(false);
    expect(byId(records, "span").cacheHit).toBe(false);
  });

  it("is order-independent: a traces export before or after its observations gives the same records", async () => {
    const after = await collect([LF_OBSERVATIONS, LF_TRACES]);
    const before = await collect([LF_TRACES, LF_OBSERVATIONS]);
    expect(before.records).toEqual(after.records);
    expect(new Set(before.quarantined.map((q) => JSON.stringify(q)))).toEqual(new Set(after.quarantined.map((q) => JSON.stringify(q))));
    // And the join really happened in both orders.
    expect(byId(before.records, "fc6c16c130eb4bdf").attributes["tenant_id"]).toBe("acme");
  });

  it("without the traces export, observations carry no tenant (never a guess)", async () => {
    const { records } = await collect([LF_OBSERVATIONS]);
    expect(byId(records, "fc6c16c130eb4bdf").attributes["tenant_id"]).toBeUndefined();
  });

  it("traces inputs yield no records, only context", async () => {
    const { records } = await collect([LF_TRACES]);
    expect(records).toEqual([]);
  });

  it("a record copied into two inputs is yielded from each, with its position", async () => {
    const copy = await tempFile("copy.jsonl", "");
    await copyFile(LS_RUNS, copy);
    const { records, positions } = await collect([LS_RUNS, copy]);
    expect(records.filter((r) => r.recordId === "019aa08b-b6f8-7ec7-8428-4cab7e98d192").length).toBe(2);
    expect(positions.get("019aa08b-b6f8-7ec7-8428-4cab7e98d192")).toBe(`${copy}#line 2`);
  });
});

describe("sources (TraceSource per platform)", () => {
  it("reads only its platform's inputs", async () => {
    const inputs = await Promise.all([LS_RUNS_V2, LF_OBSERVATIONS, LF_TRACES].map((p) => detectInput(p)));
    const platforms = new Set<string>();
    for await (const item of sources.langfuse.read(inputs)) {
      if (item.kind === "record") platforms.add(item.record.platform);
    }
    expect([...platforms]).toEqual(["langfuse"]);
    expect(sources.langsmith.platform).toBe("langsmith");
  });
});
