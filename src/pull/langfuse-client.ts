import { z } from "zod";
import { ApiHttp, PullApiError, expectShape, type ApiTuning } from "./http.js";
import { iso, type TimeWindow } from "./source.js";

/**
 * Langfuse public API, the read side pull mode needs: observations API v2 (cursor pages),
 * traces v1 (page/limit; the tenant usually lives in trace metadata), one trace by id, and the
 * key's project. Basic auth: public key as user, secret key as password.
 */

/**
 * Field groups of GET /api/public/v2/observations that billing reads; `core` comes anyway.
 * Not `io`: prompts and completions are most of the payload and bill nothing.
 */
export const OBSERVATION_FIELD_GROUPS = ["core", "basic", "time", "usage", "model", "metadata", "trace_context"] as const;

/** `io` carries the trace metadata (with input/output); `observations`/`scores`/`metrics` are not needed. */
export const TRACE_FIELD_GROUPS = ["core", "io"] as const;

/** The v2 endpoint accepts up to 1000; half keeps responses well under the 5 MB limit with metadata. */
const OBSERVATION_PAGE_MAX = 1000;
const TRACE_PAGE_MAX = 100;

const observation = z.looseObject({ id: z.string(), traceId: z.string().nullish(), startTime: z.string() });
const observationsPage = z.looseObject({
  data: z.array(observation),
  meta: z.looseObject({ cursor: z.string().nullish() }),
});
const trace = z.looseObject({ id: z.string(), timestamp: z.string() });
const tracesPage = z.looseObject({
  data: z.array(trace),
  meta: z.looseObject({ page: z.number(), limit: z.number(), totalPages: z.number() }),
});
const projects = z.looseObject({ data: z.array(z.looseObject({ id: z.string(), name: z.string().nullish() })) });

export type LangfuseObservation = z.infer<typeof observation>;
export type LangfuseTrace = z.infer<typeof trace>;

export interface LangfuseClientOptions extends ApiTuning {
  /** e.g. https://cloud.langfuse.com, https://us.cloud.langfuse.com or a self-hosted URL. */
  host: string;
  publicKey: string;
  secretKey: string;
  /** Observations per page, at most 1000 (default 500). */
  observationPageSize?: number;
  /** Traces per page, at most 100 (default 100). */
  tracePageSize?: number;
}

export class LangfuseClient {
  private readonly http: ApiHttp;
  private readonly obsLimit: number;
  private readonly traceLimit: number;

  constructor(opts: LangfuseClientOptions) {
    const basic = Buffer.from(`${opts.publicKey}:${opts.secretKey}`).toString("base64");
    this.http = new ApiHttp({
      ...opts,
      service: "Langfuse",
      baseUrl: opts.host,
      headers: { authorization: `Basic ${basic}` },
      secrets: [opts.secretKey, basic, `${opts.publicKey}:${opts.secretKey}`],
      authHint: "check LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_HOST (keys belong to one project and one region)",
    });
    this.obsLimit = clamp(opts.observationPageSize ?? 500, OBSERVATION_PAGE_MAX);
    this.traceLimit = clamp(opts.tracePageSize ?? TRACE_PAGE_MAX, TRACE_PAGE_MAX);
  }

  /** The project the keys belong to (project-scoped keys see exactly one). */
  async projectId(): Promise<string> {
    const body = expectShape("Langfuse", projects, await this.http.json("GET", "/api/public/projects"), "GET /api/public/projects");
    const first = body.data[0];
    if (!first) throw new PullApiError("Langfuse GET /api/public/projects returned no project for these keys", 200, false);
    return first.id;
  }

  /** Observations whose startTime is in the window, newest first as the API orders them, one array per page. */
  async *observations(window: TimeWindow): AsyncGenerator<LangfuseObservation[]> {
    let cursor: string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const raw = await this.http
        .json("GET", "/api/public/v2/observations", {
          query: {
            fromStartTime: iso(window.from),
            toStartTime: iso(window.to),
            fields: OBSERVATION_FIELD_GROUPS.join(","),
            limit: this.obsLimit,
            cursor,
          },
        })
        .catch((e: unknown) => {
          if (e instanceof PullApiError && e.status === 404) {
            throw new PullApiError(`${e.message} — the observations API v2 needs Langfuse Cloud or a self-hosted Langfuse v4`, 404, false);
          }
          throw e;
        });
      const page = expectShape("Langfuse", observationsPage, raw, "GET /api/public/v2/observations");
      if (page.data.length) yield page.data;
      const next = page.meta.cursor ?? undefined;
      if (!next || page.data.length === 0) return;
      // A cursor that comes back again would page forever.
      if (seen.has(next)) throw new PullApiError("Langfuse GET /api/public/v2/observations returned the same cursor twice", 200, false);
      seen.add(next);
      cursor = next;
    }
  }

  /**
   * Traces whose timestamp is in the window, oldest first. Offset paging can hand the same
   * trace out twice when traces arrive while we page; callers dedupe by id.
   */
  async *traces(window: TimeWindow): AsyncGenerator<LangfuseTrace[]> {
    for (let page = 1; ; page++) {
      const raw = await this.http
        .json("GET", "/api/public/traces", {
          query: {
            fromTimestamp: iso(window.from),
            toTimestamp: iso(window.to),
            orderBy: "timestamp.asc",
            fields: TRACE_FIELD_GROUPS.join(","),
            page,
            limit: this.traceLimit,
          },
        })
        .catch((e: unknown) => {
          if (e instanceof PullApiError && (e.status === 404 || e.status === 410)) {
            throw new PullApiError(
              `${e.message} — this Langfuse no longer serves the v1 traces list; if your SDKs propagate trace attributes (tenant metadata, userId, tags) to every observation (Langfuse v4), set LANGFUSE_PULL_TRACES=false`,
              e.status,
              false,
            );
          }
          throw e;
        });
      const body = expectShape("Langfuse", tracesPage, raw, "GET /api/public/traces");
      if (body.data.length) yield body.data;
      if (body.data.length < this.traceLimit || page >= body.meta.totalPages) return;
    }
  }

  /**
   * One trace, or null when it does not exist (deleted, or not yet visible). The single-trace
   * endpoint embeds full observations and scores; they are cut back to ids as in the list.
   */
  async trace(id: string): Promise<LangfuseTrace | null> {
    const raw = await this.http.json("GET", `/api/public/traces/${encodeURIComponent(id)}`, { allow404: true });
    if (raw === undefined) return null;
    const t = expectShape("Langfuse", trace, raw, "GET /api/public/traces/{traceId}");
    return { ...t, observations: idsOf(t["observations"]), scores: idsOf(t["scores"]) };
  }
}

function idsOf(v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  return v.map((x) => (typeof x === "object" && x !== null && "id" in x ? (x as { id: unknown }).id : x));
}

function clamp(n: number, max: number): number {
  return Math.max(1, Math.min(max, Math.floor(n)));
}
