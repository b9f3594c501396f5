/**
 * @module A stand-in for the LangSmith REST endpoints pull mode uses, shaped after the SDKs and
 * the API reference: `POST /runs/query` (v1 body `{session, id, trace, start_time, filter, select,
 * limit ≤ 100, cursor, order}`, response `{runs, cursors: {next}}`, newest first) and
 * `GET /sessions?name=` / `GET /sessions/{id}`, with or without the `/api/v1` prefix. Auth by
 * `x-api-key`. The filter language is the subset pull mode writes: `and(...)` of
 * `gte/gt/lte/lt/eq(start_time, "<iso>")`; anything else is refused rather than ignored.
 */
import { toIsoUtc } from "../../sources/timestamps.js";
import { compareDesc, decodeCursor, encodeCursor, startStandin, type Standin, type StandinOptions, type StandinReply, type StandinRequest } from "./server.js";

type Json = Record<string, unknown>;

export interface LangSmithProject {
  id: string;
  name: string;
}

export interface LangSmithStandinOptions extends StandinOptions {
  apiKey?: string;
  projects?: LangSmithProject[];
  runs?: Json[];
  echoCredentialsOnAuthError?: boolean;
}

export interface LangSmithStandin extends Standin {
  apiKey: string;
  projects: LangSmithProject[];
  addRuns(items: Json[]): void;
  /** A run changes on the platform (a pending run finishes): replaces the stored run of the same id. */
  updateRuns(items: Json[]): void;
}

type Condition = (t: number) => boolean;

/** The v1 `select` enum (langsmith SDK `_openapi_client` RunQueryParams); anything else is a 422, as there. */
const V1_SELECT = new Set([
  "id", "name", "run_type", "start_time", "end_time", "status", "error", "extra", "events", "inputs", "inputs_preview",
  "inputs_s3_urls", "outputs", "outputs_preview", "outputs_s3_urls", "s3_urls", "parent_run_id", "manifest_id", "manifest",
  "session_id", "serialized", "reference_example_id", "reference_dataset_id", "total_tokens", "prompt_tokens",
  "prompt_token_details", "completion_tokens", "completion_token_details", "total_cost", "prompt_cost", "prompt_cost_details",
  "completion_cost", "completion_cost_details", "price_model_id", "first_token_time", "trace_id", "dotted_order",
  "last_queued_at", "feedback_stats", "child_run_ids", "parent_run_ids", "tags", "in_dataset", "app_path", "share_token",
  "trace_tier", "trace_first_received_at", "ttl_seconds", "trace_upgrade", "thread_id", "messages", "inserted_at",
]);

export async function startLangSmithStandin(opts: LangSmithStandinOptions = {}): Promise<LangSmithStandin> {
  const apiKey = opts.apiKey ?? "lsv2_pt_standin_secret_key";
  const projects = opts.projects ?? [{ id: "5f0c2d7e-8a43-4c1b-9e2f-3b6a1d9c4e70", name: "prod-assistants" }];
  const runs: { t: number; raw: Json }[] = [];
  const addRuns = (items: Json[]) => {
    for (const item of items) {
      const raw = asV1Run(item);
      const s = toIsoUtc(raw["start_time"], "start_time");
      if (s === null) throw new Error("stand-in seed run without start_time");
      runs.push({ t: Date.parse(s), raw });
    }
  };
  addRuns(opts.runs ?? []);
  const updateRuns = (items: Json[]) => {
    for (const item of items) {
      const at = runs.findIndex((r) => r.raw["id"] === item["id"]);
      if (at < 0) throw new Error(`stand-in has no run ${String(item["id"])} to update`);
      runs.splice(at, 1);
      addRuns([item]);
    }
  };

  function route(req: StandinRequest): StandinReply {
    if (req.headers["x-api-key"] !== apiKey) {
      return { status: 401, body: { detail: opts.echoCredentialsOnAuthError ? `Invalid token ${String(req.headers["x-api-key"])}` : "Invalid token" } };
    }
    const path = req.path.replace(/^\/api\/v1(?=\/)/, "");
    if (req.method === "GET" && path === "/sessions") {
      const name = req.query.get("name");
      return { status: 200, body: projects.filter((p) => !name || p.name === name).map(session) };
    }
    const one = /^\/sessions\/([^/]+)$/.exec(path);
    if (req.method === "GET" && one) {
      const p = projects.find((x) => x.id === one[1]);
      return p ? { status: 200, body: session(p) } : { status: 404, body: { detail: "Session not found" } };
    }
    if (req.method === "POST" && path === "/runs/query") return query(req.body);
    return { status: 404, body: { detail: "Not Found" } };
  }

  function query(text: string): StandinReply {
    let body: Json;
    try {
      body = JSON.parse(text) as Json;
    } catch {
      return { status: 422, body: { detail: [{ msg: "body is not JSON" }] } };
    }
    const limit = body["limit"] ?? 100;
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > 100) {
      return { status: 422, body: { detail: [{ loc: ["body", "limit"], msg: "ensure this value is between 1 and 100" }] } };
    }
    const sessions = strings(body["session"]);
    const ids = strings(body["id"]);
    const traceId = typeof body["trace"] === "string" ? body["trace"] : null;
    if (!sessions && !ids && !traceId) return { status: 400, body: { detail: "At least one of session, id, trace, reference_example or parent_run must be given" } };
    const conditions: Condition[] = [];
    if (typeof body["start_time"] === "string") {
      const from = Date.parse(body["start_time"]);
      conditions.push((t) => t >= from);
    }
    if (typeof body["filter"] === "string" && body["filter"]) {
      const parsed = parseFilter(body["filter"]);
      if (typeof parsed === "string") return { status: 400, body: { detail: `stand-in: ${parsed}` } };
      conditions.push(parsed);
    }
    let after: { t: number; id: string } | undefined;
    if (typeof body["cursor"] === "string") {
      const c = decodeCursor(body["cursor"]) as { t?: number; id?: string } | null;
      if (!c || typeof c.t !== "number" || typeof c.id !== "string") return { status: 400, body: { detail: "Invalid cursor" } };
      after = { t: c.t, id: c.id };
    }
    const select = strings(body["select"]);
    const unknown = select?.filter((f) => !V1_SELECT.has(f)) ?? [];
    if (unknown.length) return { status: 422, body: { detail: [{ loc: ["body", "select"], msg: `unknown select field(s): ${unknown.join(", ")}` }] } };
    const asc = body["order"] === "asc";
    const rows = runs
      .filter(({ t, raw }) =>
        (!sessions || sessions.includes(String(raw["session_id"] ?? raw["project_id"]))) &&
        (!ids || ids.includes(String(raw["id"]))) &&
        (!traceId || raw["trace_id"] === traceId) &&
        conditions.every((c) => c(t)),
      )
      .map((r) => ({ ...r, k: [String(r.raw["id"])] }))
      .sort((a, b) => (asc ? -compareDesc(a, b) : compareDesc(a, b)))
      .filter((r) => !after || (asc ? -1 : 1) * compareDesc(r, { t: after.t, k: [after.id] }) > 0);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      status: 200,
      body: {
        runs: page.map(({ raw }) => (select ? Object.fromEntries(select.filter((k) => k in raw).map((k) => [k, raw[k]])) : raw)),
        cursors: { next: rows.length > limit && last ? encodeCursor({ t: last.t, id: last.k[0] }) : null },
        search_cursors: null,
      },
    };
  }

  const server = await startStandin(route, opts);
  return { ...server, apiKey, projects, addRuns, updateRuns };
}

/**
 * The v1 endpoint shows every run in v1 shape. A run seeded in the v2 `runs.query` shape (the
 * examples keep one such trace) is served as v1 presents the same run: lowercase enums,
 * `session_id`, metadata under `extra.metadata`, token-detail maps without the `{raw}` wrapper.
 */
export function asV1Run(run: Json): Json {
  const v2 = "project_id" in run || (typeof run["run_type"] === "string" && run["run_type"] === run["run_type"].toUpperCase());
  if (!v2) return run;
  const { project_id, metadata, ...rest } = run;
  const extra = (typeof rest["extra"] === "object" && rest["extra"] !== null ? rest["extra"] : {}) as Json;
  const out: Json = { ...rest, session_id: rest["session_id"] ?? project_id };
  if (metadata !== undefined) out["extra"] = { ...extra, metadata: { ...(extra["metadata"] as Json | undefined), ...(metadata as Json) } };
  for (const k of ["run_type", "status"]) if (typeof out[k] === "string") out[k] = (out[k] as string).toLowerCase();
  for (const k of ["prompt_token_details", "completion_token_details", "prompt_cost_details", "completion_cost_details"]) {
    const v = out[k];
    if (typeof v === "object" && v !== null && "raw" in v) out[k] = (v as Json)["raw"];
  }
  return out;
}

function session(p: LangSmithProject): Json {
  return { id: p.id, name: p.name, tenant_id: "00000000-0000-4000-8000-000000000000", reference_dataset_id: null, start_time: "2026-01-01T00:00:00" };
}

function strings(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === "string") && v.length > 0 ? (v as string[]) : null;
}

const COMPARATORS: Record<string, (a: number, b: number) => boolean> = {
  gte: (a, b) => a >= b,
  gt: (a, b) => a > b,
  lte: (a, b) => a <= b,
  lt: (a, b) => a < b,
  eq: (a, b) => a === b,
};

/** `and(gte(start_time, "…"), lt(start_time, "…"))` and its parts; a message for anything else. */
export function parseFilter(text: string): Condition | string {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i] ?? "")) i++;
  };
  const ident = () => {
    ws();
    const m = /^[a-z_]+/.exec(text.slice(i));
    if (!m) throw new Error(`expected a name at ${i}`);
    i += m[0].length;
    return m[0];
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) throw new Error(`expected '${c}' at ${i}`);
    i++;
  };
  const literal = () => {
    ws();
    const m = /^"((?:[^"\\]|\\.)*)"/.exec(text.slice(i));
    if (!m) throw new Error(`expected a quoted value at ${i}`);
    i += m[0].length;
    return m[1]!;
  };
  const expr = (): Condition => {
    const fn = ident();
    expect("(");
    if (fn === "and") {
      const parts = [expr()];
      for (ws(); text[i] === ","; ws()) {
        i++;
        parts.push(expr());
      }
      expect(")");
      return (t) => parts.every((p) => p(t));
    }
    const cmp = COMPARATORS[fn];
    if (!cmp) throw new Error(`unsupported filter function ${fn}`);
    const field = ident();
    if (field !== "start_time") throw new Error(`unsupported filter field ${field}`);
    expect(",");
    const iso = toIsoUtc(literal(), "filter value");
    expect(")");
    const at = Date.parse(iso ?? "");
    return (t) => cmp(t, at);
  };
  try {
    const c = expr();
    ws();
    if (i !== text.length) throw new Error(`unexpected text at ${i}`);
    return c;
  } catch (e) {
    return `filter ${JSON.stringify(text)}: ${(e as Error).message}`;
  }
}
