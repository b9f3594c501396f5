import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";

export interface Generated {
  records: number;
  bytes: number;
  /** Billed tokens per tenant under the default policy, from the numbers written. */
  totals: Record<string, { input: number; output: number }>;
}

/**
 * A realistic LangSmith JSONL export for benchmarks and memory checks: per trace a root chain
 * run holding the tenant (with rolled-up tokens, as LangSmith reports) and a ChatOpenAI child
 * run whose usage sits in extra.metadata.usage_metadata. Stops once `targetBytes` are written.
 */
export async function generateLangSmithExport(path: string, targetBytes: number, tenants = ["acme", "globex", "initech", "umbrella"]): Promise<Generated> {
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  const totals = Object.fromEntries(tenants.map((t) => [t, { input: 0, output: 0 }]));
  const base = Date.parse("2026-11-01T00:00:00Z");
  let bytes = 0;
  let records = 0;
  for (let i = 0; bytes < targetBytes; i++) {
    const tenant = tenants[i % tenants.length]!;
    const input = 200 + (i % 97) * 13;
    const cacheRead = i % 4 === 0 ? 128 : 0;
    const output = 40 + (i % 31) * 3;
    totals[tenant]!.input += input - cacheRead;
    totals[tenant]!.output += output;
    const traceId = randomUUID();
    const childId = randomUUID();
    const t0 = new Date(base + i * 250).toISOString();
    const t1 = new Date(base + i * 250 + 180).toISOString();
    const dotted = `${t0.replace(/[-:.]/g, "").replace("Z", "")}000Z`;
    const usage = { input_tokens: input, output_tokens: output, total_tokens: input + output, input_token_details: { cache_read: cacheRead } };
    const root = {
      id: traceId, trace_id: traceId, parent_run_id: null, name: "support-chat", run_type: "chain", status: "success", error: null,
      start_time: t0, end_time: t1, dotted_order: `${dotted}${traceId}`,
      extra: { metadata: { tenant_id: tenant, feature: "support-chat", LANGSMITH_PROJECT: "prod" }, runtime: { sdk: "langsmith-js" } },
      inputs: { question: "How do I change my plan?" }, outputs: { output: "Open Billing and pick a plan." },
      tags: ["prod"], session_id: "5f0c2d7e-8a43-4c1b-9e2f-3b6a1d9c4e70",
      prompt_tokens: input, completion_tokens: output, total_tokens: input + output, total_cost: "0.0012",
    };
    const child = {
      id: childId, trace_id: traceId, parent_run_id: traceId, name: "ChatOpenAI", run_type: "llm", status: "success", error: null,
      start_time: t0, end_time: t1, dotted_order: `${dotted}${traceId}.${dotted}${childId}`,
      extra: { metadata: { ls_provider: "openai", ls_model_name: "gpt-4o-mini", usage_metadata: usage }, invocation_params: { model: "gpt-4o-mini" } },
      inputs: { messages: [[{ role: "user", content: "How do I change my plan?" }]] },
      outputs: { generations: [[{ text: "Open Billing and pick a plan.", message: { kwargs: { content: "Open Billing and pick a plan.", usage_metadata: usage, response_metadata: { model_name: "gpt-4o-mini-2024-07-18" } } } }]] },
      tags: ["prod"], session_id: "5f0c2d7e-8a43-4c1b-9e2f-3b6a1d9c4e70",
      prompt_tokens: input, completion_tokens: output, total_tokens: input + output,
    };
    const chunk = JSON.stringify(root) + "\n" + JSON.stringify(child) + "\n";
    bytes += Buffer.byteLength(chunk);
    records += 2;
    if (!out.write(chunk)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return { records, bytes, totals };
}
