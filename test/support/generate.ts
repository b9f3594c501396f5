import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import type { TenantTotals } from "./stack.js";

/**
 * Writes a LangSmith JSONL export of `runs` successful llm runs (v1 shape, tenant in
 * extra.metadata, usage_metadata with cache reads) spread over `tenants`, and returns the
 * per-tenant billed totals the default policy must produce — computed from the numbers
 * written here, not by tracebill: input billed = input_tokens − cache_read; output = output_tokens.
 */
export async function writeLangSmithRuns(path: string, runs: number, tenants: string[]): Promise<TenantTotals> {
  const out = createWriteStream(path);
  const totals: TenantTotals = Object.fromEntries(tenants.map((t) => [t, { input: 0, output: 0 }]));
  const base = Date.parse("2026-11-20T00:00:00Z");
  for (let i = 0; i < runs; i++) {
    const tenant = tenants[i % tenants.length]!;
    const input = 100 + (i % 37) * 10;
    const cacheRead = (i % 3) * 20;
    const output = 20 + (i % 11);
    totals[tenant]!.input += input - cacheRead;
    totals[tenant]!.output += output;
    const id = randomUUID();
    const start = new Date(base + i * 1000).toISOString();
    const end = new Date(base + i * 1000 + 500).toISOString();
    const run = {
      id, trace_id: id, parent_run_id: null, name: "ChatOpenAI", run_type: "llm", status: "success", error: null,
      start_time: start, end_time: end,
      dotted_order: `${start.replace(/[-:]/g, "").replace(".", "").replace("Z", "")}000Z${id}`,
      extra: {
        metadata: { tenant_id: tenant, ls_provider: "openai", ls_model_name: "gpt-4o-mini", usage_metadata: { input_tokens: input, output_tokens: output, total_tokens: input + output, input_token_details: { cache_read: cacheRead } } },
        runtime: { sdk: "langsmith-js" },
      },
      inputs: { messages: [] }, outputs: { generations: [] }, tags: [], session_id: randomUUID(),
      prompt_tokens: input, completion_tokens: output, total_tokens: input + output,
    };
    if (!out.write(JSON.stringify(run) + "\n")) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return totals;
}
