import { z } from "zod";
import { UserError } from "../model/index.js";
import { ApiHttp, PullApiError, expectShape, type ApiTuning } from "./http.js";
import { iso, type TimeWindow } from "./source.js";

/**
 * LangSmith REST, the read side pull mode needs: `POST /runs/query` (v1 run shape, cursor pages,
 * what `client.listRuns` calls) and `GET /sessions` to turn a project name into its id.
 * Auth: `x-api-key`.
 */

/**
 * The run fields billing reads. Beyond the SDK default: the token-detail maps (cache split
 * without parsing outputs). `inputs` stays: `inputs.model` is LangSmith's own model-name fallback.
 */
export const RUN_SELECT = [
  "id", "trace_id", "parent_run_id", "parent_run_ids", "dotted_order", "session_id",
  "name", "run_type", "status", "error", "start_time", "end_time", "tags",
  "extra", "inputs", "outputs",
  "prompt_tokens", "completion_tokens", "total_tokens", "prompt_token_details", "completion_token_details",
  "prompt_cost", "completion_cost", "total_cost",
] as const;

const PAGE_MAX = 100;

const run = z.looseObject({ id: z.string(), trace_id: z.string().nullish(), parent_run_id: z.string().nullish() });
const runsPage = z.looseObject({
  runs: z.array(run),
  cursors: z.looseObject({ next: z.string().nullish() }).nullish(),
});
const session = z.looseObject({ id: z.string(), name: z.string() });

export type LangSmithRun = z.infer<typeof run>;

export interface LangSmithClientOptions extends ApiTuning {
  /** e.g. https://api.smith.langchain.com, https://eu.api.smith.langchain.com or a self-hosted /api/v1 root. */
  apiUrl: string;
  apiKey: string;
  /** Runs per page, at most 100 (default 100). */
  pageSize?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class LangSmithClient {
  private readonly http: ApiHttp;
  private readonly limit: number;

  constructor(opts: LangSmithClientOptions) {
    this.http = new ApiHttp({
      ...opts,
      service: "LangSmith",
      baseUrl: opts.apiUrl,
      headers: { "x-api-key": opts.apiKey },
      secrets: [opts.apiKey],
      authHint: "check LANGSMITH_API_KEY and LANGSMITH_API_URL (EU and US keys differ)",
    });
    this.limit = Math.max(1, Math.min(PAGE_MAX, Math.floor(opts.pageSize ?? PAGE_MAX)));
  }

  /** A tracing project (session) by id or by name; a UserError naming it when it does not exist. */
  async resolveProject(nameOrId: string): Promise<{ id: string; name: string }> {
    if (UUID.test(nameOrId)) {
      const raw = await this.http.json("GET", `/sessions/${nameOrId}`, { allow404: true });
      if (raw !== undefined) return expectShape("LangSmith", session, raw, "GET /sessions/{id}");
    }
    const raw = await this.http.json("GET", "/sessions", { query: { name: nameOrId } });
    const found = expectShape("LangSmith", z.array(session), raw, "GET /sessions");
    const hit = found.find((s) => s.name === nameOrId) ?? found[0];
    if (!hit) throw new UserError(`LangSmith project "${nameOrId}" not found (LANGSMITH_PROJECT takes a project name or id)`);
    return hit;
  }

  /** Runs of the project whose start_time is in the window, one array per API page. */
  async *runs(projectId: string, window: TimeWindow): AsyncGenerator<LangSmithRun[]> {
    yield* this.query({
      session: [projectId],
      start_time: iso(window.from),
      filter: `and(gte(start_time, "${iso(window.from)}"), lt(start_time, "${iso(window.to)}"))`,
    });
  }

  /** Runs by id (trace roots the window needs), whatever their start time. */
  async runsById(projectId: string, ids: string[]): Promise<LangSmithRun[]> {
    const out: LangSmithRun[] = [];
    for (let i = 0; i < ids.length; i += this.limit) {
      for await (const page of this.query({ session: [projectId], id: ids.slice(i, i + this.limit) })) out.push(...page);
    }
    return out;
  }

  private async *query(body: Record<string, unknown>): AsyncGenerator<LangSmithRun[]> {
    let cursor: string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const raw = await this.http.json("POST", "/runs/query", { body: { ...body, select: RUN_SELECT, limit: this.limit, cursor } });
      const page = expectShape("LangSmith", runsPage, raw, "POST /runs/query");
      if (page.runs.length) yield page.runs;
      const next = page.cursors?.next ?? undefined;
      if (!next || page.runs.length === 0) return;
      if (seen.has(next)) throw new PullApiError("LangSmith POST /runs/query returned the same cursor twice", 200, false);
      seen.add(next);
      cursor = next;
    }
  }
}
