/**
 * @module A stand-in for the Langfuse public API read endpoints pull mode uses, shaped after the
 * server code and docs: `GET /api/public/projects`, `GET /api/public/v2/observations` (cursor =
 * base64 JSON {lastStartTimeTo, lastTraceId, lastId}, newest first by (startTime, traceId, id),
 * `limit` ≤ 1000, `fields` groups, `toStartTime` exclusive), `GET /api/public/traces` (page/limit
 * ≤ 100, `fromTimestamp` inclusive, `toTimestamp` exclusive, `fields` core/io/scores/observations/
 * metrics) and `GET /api/public/traces/{id}`. Basic auth with the project's key pair. Items are
 * served as seeded (v1- or v2-shaped) and can be added at any time, as late data arrives.
 */
import { toIsoUtc } from "../../sources/timestamps.js";
import { compareDesc, decodeCursor, encodeCursor, startStandin, type Standin, type StandinOptions, type StandinReply, type StandinRequest } from "./server.js";

type Json = Record<string, unknown>;

export interface LangfuseStandinOptions extends StandinOptions {
  publicKey?: string;
  secretKey?: string;
  projectId?: string;
  observations?: Json[];
  traces?: Json[];
  /** Answer 401 with the received Authorization header in the body, as a careless proxy would. */
  echoCredentialsOnAuthError?: boolean;
  /** false: the v1 traces endpoints are gone, as on Langfuse Cloud after their removal (default true). */
  legacyTraces?: boolean;
}

export interface LangfuseStandin extends Standin {
  publicKey: string;
  secretKey: string;
  projectId: string;
  addObservations(items: Json[]): void;
  addTraces(items: Json[]): void;
}

/** Which field group each observation key belongs to; keys it does not know are always served. */
const OBSERVATION_GROUPS: Record<string, string[]> = {
  core: ["id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type"],
  basic: ["name", "level", "statusMessage", "version", "environment", "bookmarked", "public", "userId", "sessionId"],
  time: ["completionStartTime", "createdAt", "updatedAt"],
  io: ["input", "output"],
  metadata: ["metadata"],
  model: ["model", "providedModelName", "internalModelId", "modelParameters", "modelId", "inputPrice", "outputPrice", "totalPrice"],
  usage: [
    "usageDetails", "costDetails", "providedUsageDetails", "providedCostDetails", "inputUsage", "outputUsage", "totalUsage",
    "inputCost", "outputCost", "totalCost", "usagePricingTierId", "usagePricingTierName",
    // v1 items seeded as-is carry their legacy usage views; they belong with usage.
    "usage", "unit", "promptTokens", "completionTokens", "totalTokens", "calculatedInputCost", "calculatedOutputCost", "calculatedTotalCost",
  ],
  prompt: ["promptId", "promptName", "promptVersion"],
  metrics: ["latency", "timeToFirstToken"],
  trace_context: ["traceName", "tags", "release"],
};
const GROUP_OF = new Map(Object.entries(OBSERVATION_GROUPS).flatMap(([g, keys]) => keys.map((k) => [k, g] as const)));

const TRACE_GROUPS: Record<string, string[]> = {
  io: ["input", "output", "metadata"],
  scores: ["scores"],
  observations: ["observations"],
  metrics: ["totalCost", "latency"],
};
const TRACE_GROUP_OF = new Map(Object.entries(TRACE_GROUPS).flatMap(([g, keys]) => keys.map((k) => [k, g] as const)));

export async function startLangfuseStandin(opts: LangfuseStandinOptions = {}): Promise<LangfuseStandin> {
  const publicKey = opts.publicKey ?? "pk-lf-standin";
  const secretKey = opts.secretKey ?? "sk-lf-standin-secret";
  const projectId = opts.projectId ?? "cm3standinproject0001";
  const observations: { t: number; raw: Json }[] = [];
  const traces: { t: number; raw: Json }[] = [];
  const expected = `Basic ${Buffer.from(`${publicKey}:${secretKey}`).toString("base64")}`;

  const addObservations = (items: Json[]) => {
    for (const raw of items) observations.push({ t: time(raw["startTime"]), raw });
  };
  const addTraces = (items: Json[]) => {
    for (const raw of items) traces.push({ t: time(raw["timestamp"]), raw });
  };
  addObservations(opts.observations ?? []);
  addTraces(opts.traces ?? []);

  function route(req: StandinRequest): StandinReply {
    if (req.headers.authorization !== expected) {
      const message = opts.echoCredentialsOnAuthError
        ? `Invalid credentials: ${String(req.headers.authorization)}`
        : "Invalid credentials. Confirm that you've configured the correct host.";
      return { status: 401, body: { message } };
    }
    if (req.method !== "GET") return { status: 405, body: { message: "Method not allowed" } };
    if (req.path === "/api/public/projects") {
      return { status: 200, body: { data: [{ id: projectId, name: "stand-in project", metadata: {}, retentionDays: null }] } };
    }
    if (req.path === "/api/public/v2/observations") return listObservations(req.query);
    if (opts.legacyTraces === false && req.path.startsWith("/api/public/traces")) return { status: 404, body: { message: "Route not found" } };
    if (req.path === "/api/public/traces") return listTraces(req.query);
    const one = /^\/api\/public\/traces\/([^/]+)$/.exec(req.path);
    if (one) return getTrace(decodeURIComponent(one[1]!));
    return { status: 404, body: { message: "Route not found" } };
  }

  function listObservations(q: URLSearchParams): StandinReply {
    const limit = intParam(q, "limit", 50);
    if (limit === null || limit < 1 || limit > 1000) return invalid("limit must be an integer between 1 and 1000");
    const from = dateParam(q, "fromStartTime");
    const to = dateParam(q, "toStartTime");
    if (from === null || to === null) return invalid("fromStartTime / toStartTime must be ISO 8601 date-times");
    let after: { t: number; traceId: string; id: string } | undefined;
    const rawCursor = q.get("cursor");
    if (rawCursor) {
      const c = decodeCursor(rawCursor) as { lastStartTimeTo?: string; lastTraceId?: string; lastId?: string } | null;
      if (!c || typeof c.lastStartTimeTo !== "string" || typeof c.lastTraceId !== "string" || typeof c.lastId !== "string") {
        return invalid("Invalid cursor format");
      }
      after = { t: Date.parse(c.lastStartTimeTo), traceId: c.lastTraceId, id: c.lastId };
    }
    const groups = new Set((q.get("fields") ?? "").split(",").map((f) => f.trim()).filter((f) => f in OBSERVATION_GROUPS));
    const all = groups.size === 0;
    const type = q.get("type");
    const traceId = q.get("traceId");
    const rows = observations
      .filter(({ t }) => (from === undefined || t >= from) && (to === undefined || t < to))
      .filter(({ raw }) => (!type || raw["type"] === type) && (!traceId || raw["traceId"] === traceId))
      .map((o) => ({ ...o, k: [String(o.raw["traceId"] ?? ""), String(o.raw["id"])] }))
      .sort(compareDesc)
      .filter((o) => !after || compareDesc(o, { t: after.t, k: [after.traceId, after.id] }) > 0);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      status: 200,
      body: {
        data: page.map(({ raw }) => pick(raw, (k) => all || !GROUP_OF.has(k) || GROUP_OF.get(k) === "core" || groups.has(GROUP_OF.get(k)!), all || groups.has("io"))),
        meta: rows.length > limit && last ? { cursor: encodeCursor({ lastStartTimeTo: new Date(last.t).toISOString(), lastTraceId: last.k[0], lastId: last.k[1] }) } : {},
      },
    };
  }

  function listTraces(q: URLSearchParams): StandinReply {
    const page = intParam(q, "page", 1);
    const limit = intParam(q, "limit", 50);
    if (page === null || page < 1) return invalid("page must be a positive integer");
    if (limit === null || limit < 1 || limit > 100) return invalid("limit must be an integer between 1 and 100");
    const from = dateParam(q, "fromTimestamp");
    const to = dateParam(q, "toTimestamp");
    if (from === null || to === null) return invalid("fromTimestamp / toTimestamp must be ISO 8601 date-times");
    const asc = (q.get("orderBy") ?? "timestamp.desc").toLowerCase() === "timestamp.asc";
    const groups = new Set((q.get("fields") ?? "").split(",").map((f) => f.trim()).filter((f) => f in TRACE_GROUPS || f === "core"));
    const all = groups.size === 0;
    const rows = traces
      .filter(({ t }) => (from === undefined || t >= from) && (to === undefined || t < to))
      .map((tr) => ({ ...tr, k: [String(tr.raw["id"])] }))
      .sort(compareDesc);
    if (asc) rows.reverse();
    const totalItems = rows.length;
    return {
      status: 200,
      body: {
        data: rows.slice((page - 1) * limit, page * limit).map(({ raw }) => pick(withTraceExtras(raw), (k) => all || !TRACE_GROUP_OF.has(k) || groups.has(TRACE_GROUP_OF.get(k)!), false)),
        meta: { page, limit, totalItems, totalPages: Math.ceil(totalItems / limit) },
      },
    };
  }

  function getTrace(id: string): StandinReply {
    const found = traces.find((t) => t.raw["id"] === id);
    if (!found) return { status: 404, body: { message: "Trace not found within authorized project" } };
    const own = observations.filter((o) => o.raw["traceId"] === id).map((o) => o.raw);
    return { status: 200, body: { ...withTraceExtras(found.raw), observations: own, scores: [] } };
  }

  function withTraceExtras(raw: Json): Json {
    const id = String(raw["id"]);
    return {
      observations: observations.filter((o) => o.raw["traceId"] === id).map((o) => o.raw["id"]),
      scores: [],
      htmlPath: `/project/${projectId}/traces/${id}`,
      ...raw,
    };
  }

  const server = await startStandin(route, opts);
  return { ...server, publicKey, secretKey, projectId, addObservations, addTraces };
}

function pick(raw: Json, keep: (key: string) => boolean, ioAsString: boolean): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!keep(k)) continue;
    // v2 returns input/output as the stored raw strings.
    out[k] = ioAsString && (k === "input" || k === "output") && v !== null && typeof v !== "string" ? JSON.stringify(v) : v;
  }
  return out;
}

function time(v: unknown): number {
  const s = toIsoUtc(v, "timestamp");
  if (s === null) throw new Error("stand-in seed item without a timestamp");
  return Date.parse(s);
}

function intParam(q: URLSearchParams, name: string, dflt: number): number | null {
  const v = q.get(name);
  if (v === null) return dflt;
  return /^\d+$/.test(v) ? Number(v) : null;
}

/** undefined when absent, null when unparseable. */
function dateParam(q: URLSearchParams, name: string): number | undefined | null {
  const v = q.get(name);
  if (v === null) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

function invalid(message: string): StandinReply {
  return { status: 400, body: { message: "Invalid request data", error: [{ message }] } };
}
