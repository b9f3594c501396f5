import type { Clock } from "../../src/pull/clock.js";
import type { ApiTuning } from "../../src/pull/http.js";
import type { PageContext } from "../../src/pull/pull.js";
import type { PulledItem } from "../../src/pull/source.js";

type Json = Record<string, unknown>;

/** "Now" for pull tests: after every seeded item, so only the lag decides what is readable. */
export const NOW = Date.parse("2026-12-01T00:00:00Z");
export const HOUR = 3_600_000;
export const MINUTE = 60_000;

/** Fast, deterministic client settings on a virtual clock. */
export function tuning(clock: Clock, extra: Partial<ApiTuning> = {}): ApiTuning {
  return { requestsPerMinute: 60_000, clock, random: () => 0.5, backoffBaseMs: 1000, ...extra };
}

export async function pages<T>(gen: AsyncIterable<T[]>): Promise<T[][]> {
  const out: T[][] = [];
  for await (const p of gen) out.push(p);
  return out;
}

/** A page handler that keeps everything it is handed. */
export function collector() {
  const items: PulledItem[] = [];
  const calls: PageContext[] = [];
  return {
    items,
    calls,
    handler: async (page: PulledItem[], ctx: PageContext) => {
      items.push(...page);
      calls.push(ctx);
    },
    ids: (filter: (i: PulledItem) => boolean = (i) => !i.context) => items.filter(filter).map((i) => String((i.raw as Json)["id"])),
  };
}

/** Langfuse v2-style generations, `n` of them from `start`, `stepMs` apart, one trace per `perTrace`. */
export function generations(n: number, start: number, stepMs: number, opts: { prefix?: string; perTrace?: number; tenant?: string } = {}): Json[] {
  const prefix = opts.prefix ?? "obs";
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(4, "0")}`,
    traceId: `${prefix}-trace-${Math.floor(i / (opts.perTrace ?? 1))}`,
    type: "GENERATION",
    name: "ChatOpenAI",
    startTime: new Date(start + i * stepMs).toISOString(),
    endTime: new Date(start + i * stepMs + 500).toISOString(),
    level: "DEFAULT",
    providedModelName: "gpt-4o-mini",
    usageDetails: { input: 100, output: 20, total: 120 },
    metadata: { tenant_id: opts.tenant ?? "acme" },
    projectId: "p",
  }));
}

export function langfuseTraces(ids: string[], at: (i: number) => number, tenant = "acme"): Json[] {
  return ids.map((id, i) => ({ id, timestamp: new Date(at(i)).toISOString(), name: "chat", userId: null, metadata: { tenant_id: tenant }, tags: [], projectId: "p" }));
}

/** LangSmith v1 runs: one llm run per trace, root = the run itself, unless `root` is given. */
export function llmRuns(n: number, start: number, stepMs: number, opts: { prefix?: string; session?: string; traceId?: string } = {}): Json[] {
  const session = opts.session ?? "5f0c2d7e-8a43-4c1b-9e2f-3b6a1d9c4e70";
  return Array.from({ length: n }, (_, i) => {
    const id = `${opts.prefix ?? "0190aaaa-0000-7000-8000"}-${String(i).padStart(12, "0")}`;
    const t = new Date(start + i * stepMs).toISOString();
    return {
      id,
      trace_id: opts.traceId ?? id,
      parent_run_id: opts.traceId ?? null,
      name: "ChatOpenAI",
      run_type: "llm",
      status: "success",
      error: null,
      start_time: t.replace("Z", "000"), // v1 REST: naive UTC, microseconds
      end_time: new Date(start + i * stepMs + 400).toISOString(),
      dotted_order: `${t.replace(/[-:]/g, "").replace(".", "").replace("Z", "")}000Z${id}`,
      session_id: session,
      extra: { metadata: { tenant_id: "acme", ls_provider: "openai", ls_model_name: "gpt-4o-mini", usage_metadata: { input_tokens: 100, output_tokens: 20, total_tokens: 120 } } },
      inputs: { messages: [] },
      outputs: { generations: [] },
      tags: [],
      events: [{ name: "start" }],
      app_path: "/o/x",
    };
  });
}
