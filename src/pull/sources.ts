import { UserError, type Platform } from "../model/index.js";
import type { ApiTuning } from "./http.js";
import { LangfuseClient } from "./langfuse-client.js";
import { LangSmithClient } from "./langsmith-client.js";
import type { PullConfig } from "./settings.js";
import type { PulledItem, PullSource, TimeWindow } from "./source.js";

/** Context lookups handed off per page, so a window with many straddling traces stays streamed. */
const CONTEXT_PAGE = 50;

/**
 * Langfuse: the window's observations, then its traces (the tenant lives in trace metadata),
 * then, as context, the traces of observations whose trace started before the window.
 * `traces: false` suits Langfuse v4 projects that propagate trace attributes onto every observation.
 */
export function langfusePullSource(client: LangfuseClient, opts: { traces: boolean }): PullSource {
  let projectId: Promise<string> | undefined;
  return {
    platform: "langfuse",
    project: () => (projectId ??= retryable(client.projectId(), () => (projectId = undefined))),
    async *read(window: TimeWindow): AsyncGenerator<PulledItem[]> {
      const traceIds = new Set<string>();
      for await (const page of client.observations(window)) {
        for (const o of page) if (o.traceId) traceIds.add(o.traceId);
        yield page.map((raw) => ({ kind: "observation", raw }));
      }
      if (!opts.traces) return;
      const listed = new Set<string>();
      for await (const page of client.traces(window)) {
        const fresh = page.filter((t) => !listed.has(t.id));
        for (const t of fresh) listed.add(t.id);
        if (fresh.length) yield fresh.map((raw) => ({ kind: "trace", raw }));
      }
      let batch: PulledItem[] = [];
      for (const id of traceIds) {
        if (listed.has(id)) continue;
        const t = await client.trace(id);
        if (t) batch.push({ kind: "trace", raw: t, context: true });
        if (batch.length >= CONTEXT_PAGE) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length) yield batch;
    },
  };
}

/**
 * LangSmith: the window's runs, then, as context, the root runs of traces that started before
 * the window (children often lack the tenant metadata their root carries). A root's id is its trace id.
 */
export function langSmithPullSource(client: LangSmithClient, project: string): PullSource {
  let resolved: Promise<string> | undefined;
  const projectId = () => (resolved ??= retryable(client.resolveProject(project).then((p) => p.id), () => (resolved = undefined)));
  return {
    platform: "langsmith",
    project: projectId,
    async *read(window: TimeWindow): AsyncGenerator<PulledItem[]> {
      const id = await projectId();
      const traceIds = new Set<string>();
      const runIds = new Set<string>();
      for await (const page of client.runs(id, window)) {
        for (const r of page) {
          runIds.add(r.id);
          if (r.trace_id) traceIds.add(r.trace_id);
        }
        yield page.map((raw) => ({ kind: "run", raw }));
      }
      yield* contextRoots(id, traceIds, runIds);
    },
    unfinishedId(item: PulledItem): string | undefined {
      const r = item.raw as { id?: unknown; run_type?: unknown; status?: unknown; end_time?: unknown };
      // Only model calls bill; one still running has no end time and no final usage yet.
      const running = r.status === "pending" || (r.status !== "error" && (r.end_time === null || r.end_time === undefined));
      return !item.context && r.run_type === "llm" && running && typeof r.id === "string" ? r.id : undefined;
    },
    async *revisit(ids: string[]): AsyncGenerator<PulledItem[]> {
      const id = await projectId();
      const traceIds = new Set<string>();
      const runIds = new Set<string>();
      for (let i = 0; i < ids.length; i += CONTEXT_PAGE) {
        const runs = await client.runsById(id, ids.slice(i, i + CONTEXT_PAGE));
        for (const r of runs) {
          runIds.add(r.id);
          if (r.trace_id) traceIds.add(r.trace_id);
        }
        if (runs.length) yield runs.map((raw) => ({ kind: "run", raw }));
      }
      yield* contextRoots(id, traceIds, runIds);
    },
  };

  /** The root runs of `traceIds` not among `runIds` (a root's id is its trace id), as context. */
  async function* contextRoots(id: string, traceIds: Set<string>, runIds: Set<string>): AsyncGenerator<PulledItem[]> {
    const missing = [...traceIds].filter((t) => !runIds.has(t));
    for (let i = 0; i < missing.length; i += CONTEXT_PAGE) {
      const roots = await client.runsById(id, missing.slice(i, i + CONTEXT_PAGE));
      if (roots.length) yield roots.map((raw) => ({ kind: "run" as const, raw, context: true }));
    }
  }
}

/** A lookup cached for the source's life, except a failed one: the next run asks again. */
function retryable<T>(p: Promise<T>, forget: () => void): Promise<T> {
  return p.catch((e: unknown) => {
    forget();
    throw e;
  });
}

/** The platform's PullSource from the config; a UserError naming the variables when it is not configured. */
export function pullSourceFor(platform: Platform, config: PullConfig, tuning: Partial<ApiTuning> = {}): PullSource {
  const common = { requestsPerMinute: config.requestsPerMinute, ...tuning };
  if (platform === "langfuse") {
    const c = config.langfuse;
    if (!c) throw new UserError("Pulling from Langfuse needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (and LANGFUSE_HOST outside Langfuse Cloud EU).");
    return langfusePullSource(new LangfuseClient({ ...common, host: c.host, publicKey: c.publicKey, secretKey: c.secretKey }), { traces: c.traces });
  }
  const c = config.langsmith;
  if (!c) throw new UserError("Pulling from LangSmith needs LANGSMITH_API_KEY and LANGSMITH_PROJECT (and LANGSMITH_API_URL outside LangSmith Cloud US).");
  return langSmithPullSource(new LangSmithClient({ ...common, apiUrl: c.apiUrl, apiKey: c.apiKey }), c.project);
}
