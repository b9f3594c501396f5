import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { seededRandom } from "../runtime/random.js";

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

export interface BenchExports {
  /** The files written, LangSmith runs first, then the Langfuse traces and observations. */
  files: string[];
  /** Lines written over all files (runs + traces + observations): what "records" counts. */
  records: number;
  bytes: number;
  /** Billable model calls written (each bills an input and an output event). */
  billableCalls: number;
  /** Billed llm_tokens per tenant under the shipped policy, from the numbers written. */
  totals: Record<string, { input: number; output: number }>;
}


const hex = (rand: () => number, n: number) => {
  let s = "";
  for (let i = 0; i < n; i++) s += "0123456789abcdef"[Math.floor(rand() * 16)];
  return s;
};
const uuid = (rand: () => number) => {
  const h = hex(rand, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
};

class Lines {
  private readonly out;
  private chunk: string[] = [];
  private size = 0;
  lines = 0;
  bytes = 0;
  constructor(readonly path: string) {
    this.out = createWriteStream(path, { highWaterMark: 1 << 20 });
  }
  async push(value: unknown): Promise<void> {
    const line = JSON.stringify(value) + "\n";
    this.chunk.push(line);
    this.size += line.length;
    this.lines++;
    if (this.size >= 1 << 20) await this.flush();
  }
  private async flush(): Promise<void> {
    if (!this.chunk.length) return;
    const text = this.chunk.join("");
    this.bytes += Buffer.byteLength(text);
    this.chunk = [];
    this.size = 0;
    if (!this.out.write(text)) await once(this.out, "drain");
  }
  async close(): Promise<void> {
    await this.flush();
    this.out.end();
    await once(this.out, "finish");
  }
}

/**
 * Realistic synthetic exports of about `records` lines for `npm run bench`, half LangSmith, half
 * Langfuse, written into `dir`:
 *  - `langsmith-runs.jsonl`: per trace a root chain run holding the tenant (rolled-up token counts,
 *    as LangSmith reports) and one or two model-call child runs. Usage sits where each SDK puts
 *    it: LangChain JS in `extra.metadata.usage_metadata`, LangChain Python only in the message
 *    (`outputs.generations[0][0].message.kwargs.usage_metadata`) with LangSmith's server counts
 *    (`prompt_tokens`…) beside it; prompt-cache reads and Anthropic cache writes included. A few
 *    calls fail and a few are LangChain JS cache hits (`extra.cached`): skipped, never billed.
 *  - `langfuse-traces.jsonl` (tenant in the trace metadata) and `langfuse-observations.jsonl`:
 *    per trace a CHAIN span and one or two GENERATIONs with exclusive `usageDetails`
 *    (`input`, `input_cache_read`, `output`, `output_reasoning`, `total`) and cost details.
 * The traces file is written first in `files` order-independently: the pipeline joins either way.
 */
export async function generateBenchExports(dir: string, records: number, opts: { tenants?: number; seed?: number } = {}): Promise<BenchExports> {
  const tenants = Array.from({ length: opts.tenants ?? 20 }, (_, i) => `tenant-${String(i + 1).padStart(2, "0")}`);
  const rand = seededRandom(opts.seed ?? 8);
  const totals: BenchExports["totals"] = Object.fromEntries(tenants.map((t) => [t, { input: 0, output: 0 }]));
  const runs = new Lines(join(dir, "langsmith-runs.jsonl"));
  const traces = new Lines(join(dir, "langfuse-traces.jsonl"));
  const observations = new Lines(join(dir, "langfuse-observations.jsonl"));
  const base = Date.parse("2026-11-01T00:00:00Z");
  const projectId = "5f0c2d7e-8a43-4c1b-9e2f-3b6a1d9c4e70";
  let billableCalls = 0;
  const written = () => runs.lines + traces.lines + observations.lines;
  for (let i = 0; written() < records; i++) {
    const tenant = tenants[i % tenants.length]!;
    const t0ms = base + i * 137;
    const iso = (ms: number) => new Date(ms).toISOString();
    const calls = i % 3 === 0 ? 2 : 1;
    if (i % 2 === 0) {
      // LangSmith: root chain + model-call children.
      const traceId = uuid(rand);
      const dotted = (ms: number, id: string) => `${iso(ms).replace(/[-:.]/g, "").replace("Z", "")}000Z${id}`;
      const rootDotted = dotted(t0ms, traceId);
      const children: object[] = [];
      let rolledIn = 0;
      let rolledOut = 0;
      for (let c = 0; c < calls; c++) {
        const id = uuid(rand);
        const anthropic = c === 1;
        const input = 300 + Math.floor(rand() * 3000);
        const cacheRead = rand() < 0.3 ? Math.floor(input / 2) : 0;
        const cacheWrite = anthropic && cacheRead === 0 ? Math.floor(input / 4) : 0;
        const output = 20 + Math.floor(rand() * 600);
        const failed = i % 41 === 0 && c === 0;
        const cached = i % 53 === 0 && c === calls - 1 && !failed;
        const python = i % 4 === 2;
        if (!failed && !cached) {
          totals[tenant]!.input += input - cacheRead;
          totals[tenant]!.output += output;
          billableCalls++;
        }
        rolledIn += input;
        rolledOut += output;
        const model = anthropic ? "claude-sonnet-4" : "gpt-4o-mini";
        const usage = {
          input_tokens: input, output_tokens: output, total_tokens: input + output,
          input_token_details: anthropic ? { cache_read: cacheRead, cache_creation: cacheWrite } : { audio: 0, cache_read: cacheRead },
          output_token_details: { audio: 0, reasoning: 0 },
        };
        const s = t0ms + 20 + c * 900;
        const text = "Open Billing, pick the plan you want and confirm; the change applies at the next invoice.";
        const message = {
          lc: 1, type: "constructor", id: ["langchain", "schema", "messages", "AIMessage"],
          kwargs: {
            content: text, type: "ai",
            ...(failed ? {} : { usage_metadata: cached ? { input_tokens: 0, output_tokens: 0, total_tokens: 0 } : usage }),
            response_metadata: anthropic
              ? { id: `msg_${hex(rand, 24)}`, model: "claude-sonnet-4-20250514", stop_reason: "end_turn" }
              : { id: `chatcmpl-${hex(rand, 24)}`, model_name: "gpt-4o-mini-2024-07-18", finish_reason: "stop", system_fingerprint: "fp_0ba0d124f1" },
            id: `run-${id}`,
          },
        };
        children.push({
          id, trace_id: traceId, parent_run_id: traceId, name: anthropic ? "ChatAnthropic" : "ChatOpenAI", run_type: "llm",
          status: failed ? "error" : "success", error: failed ? "RateLimitError: Error code: 429" : null,
          start_time: iso(s), end_time: iso(s + 850), dotted_order: `${rootDotted}.${dotted(s, id)}`,
          extra: {
            ...(cached ? { cached: true } : {}),
            invocation_params: { model, temperature: 0.2, stream: false, _type: anthropic ? "anthropic-chat" : "openai-chat" },
            metadata: {
              ls_provider: anthropic ? "anthropic" : "openai", ls_model_name: model, ls_model_type: "chat", ls_temperature: 0.2,
              ...(python || failed ? {} : { usage_metadata: cached ? { input_tokens: 0, output_tokens: 0, total_tokens: 0 } : usage }),
            },
            runtime: python ? { sdk: "langsmith-py", sdk_version: "0.4.8", library: "langchain-core", runtime: "python" } : { sdk: "langsmith-js", sdk_version: "0.3.30", runtime: "node" },
          },
          inputs: { messages: [[{ lc: 1, type: "constructor", id: ["langchain", "schema", "messages", "HumanMessage"], kwargs: { content: "How do I change my plan?", type: "human" } }]] },
          outputs: failed ? null : { generations: [[{ text, type: "ChatGeneration", message, generation_info: { finish_reason: "stop" } }]], llm_output: null },
          tags: ["prod"], session_id: projectId, reference_example_id: null,
          ...(python ? { prompt_tokens: input, completion_tokens: output, total_tokens: input + output, prompt_token_details: { cache_read: cacheRead }, total_cost: "0.000412" } : {}),
        });
      }
      await runs.push({
        id: traceId, trace_id: traceId, parent_run_id: null, name: "support-chat", run_type: "chain", status: "success", error: null,
        start_time: iso(t0ms), end_time: iso(t0ms + 20 + calls * 900), dotted_order: rootDotted,
        extra: { metadata: { tenant_id: tenant, feature: i % 5 === 0 ? "email-draft" : "support-chat", user_id: `user-${i % 997}`, LANGSMITH_PROJECT: "prod" }, runtime: { sdk: "langsmith-js", sdk_version: "0.3.30" } },
        inputs: { question: "How do I change my plan?" }, outputs: { output: "Open Billing and pick a plan." },
        tags: ["prod"], session_id: projectId, reference_example_id: null,
        prompt_tokens: rolledIn, completion_tokens: rolledOut, total_tokens: rolledIn + rolledOut, total_cost: "0.0012",
      });
      for (const child of children) await runs.push(child);
    } else {
      // Langfuse: trace (tenant) + CHAIN span + GENERATIONs.
      const traceId = hex(rand, 32);
      const spanId = hex(rand, 16);
      await traces.push({
        id: traceId, timestamp: iso(t0ms), name: "support-chat", input: null, output: null, sessionId: `sess-${i % 4099}`, release: "2026.11.1",
        version: null, userId: `user-${i % 997}`, metadata: { tenant_id: tenant, feature: i % 5 === 1 ? "email-draft" : "support-chat" },
        tags: ["prod"], public: false, bookmarked: false, environment: "production", projectId: "cm3x9a1b20004qz8k7d1f2e3a",
        createdAt: iso(t0ms + 1000), updatedAt: iso(t0ms + 3000), externalId: null, htmlPath: `/project/cm3x9a1b20004qz8k7d1f2e3a/traces/${traceId}`,
        latency: 2.1, totalCost: 0.0021, observations: [], scores: [],
      });
      const common = {
        version: null, promptId: null, promptName: null, promptVersion: null, environment: "production", projectId: "cm3x9a1b20004qz8k7d1f2e3a",
        modelId: null, inputPrice: null, outputPrice: null, totalPrice: null, usagePricingTierName: null, usagePricingTierId: null,
      };
      await observations.push({
        id: spanId, traceId, type: "CHAIN", name: "support-chat", startTime: iso(t0ms), endTime: iso(t0ms + 20 + calls * 900), completionStartTime: null,
        model: null, modelParameters: null, input: { question: "Why was I charged twice?" }, output: { output: "One charge is a pending authorization." },
        metadata: {}, level: "DEFAULT", statusMessage: null, parentObservationId: null, ...common,
        createdAt: iso(t0ms + 2000), updatedAt: iso(t0ms + 3000), latency: 2.1, timeToFirstToken: null,
        usageDetails: {}, costDetails: {}, usage: { unit: "TOKENS", input: 0, output: 0, total: 0 }, unit: "TOKENS",
        promptTokens: 0, completionTokens: 0, totalTokens: 0, calculatedInputCost: null, calculatedOutputCost: null, calculatedTotalCost: null,
      });
      for (let c = 0; c < calls; c++) {
        const reasoning = c === 1;
        const input = 200 + Math.floor(rand() * 2500);
        const cacheRead = rand() < 0.3 ? 1024 : 0;
        const output = 20 + Math.floor(rand() * 500);
        const thoughts = reasoning ? 64 + Math.floor(rand() * 512) : 0;
        const failed = i % 43 === 1 && c === 0;
        if (!failed) {
          totals[tenant]!.input += input;
          totals[tenant]!.output += output + thoughts;
          billableCalls++;
        }
        const usageDetails = { input, ...(cacheRead ? { input_cache_read: cacheRead } : {}), output, ...(thoughts ? { output_reasoning: thoughts } : {}), total: input + cacheRead + output + thoughts };
        const s = t0ms + 20 + c * 900;
        await observations.push({
          id: hex(rand, 16), traceId, type: "GENERATION", name: reasoning ? "OpenAI-o4-mini" : "ChatOpenAI", startTime: iso(s), endTime: iso(s + 850),
          completionStartTime: iso(s + 300), model: reasoning ? "o4-mini-2025-04-16" : "gpt-4o-2024-08-06",
          modelParameters: reasoning ? { reasoning_effort: "medium", max_completion_tokens: 2048 } : { temperature: 0.2 },
          input: [{ role: "user", content: "Why was I charged twice?" }], output: failed ? null : { role: "assistant", content: "One charge is a pending authorization." },
          metadata: {}, level: failed ? "ERROR" : "DEFAULT", statusMessage: failed ? "429 Too Many Requests" : null, parentObservationId: spanId, ...common,
          createdAt: iso(s + 1200), updatedAt: iso(s + 1800), latency: 0.85, timeToFirstToken: 0.3,
          usageDetails: failed ? {} : usageDetails,
          costDetails: failed ? {} : { input: input * 2.5e-6, ...(cacheRead ? { input_cache_read: cacheRead * 1.25e-6 } : {}), output: output * 1e-5, total: input * 2.5e-6 + output * 1e-5 },
          usage: { unit: "TOKENS", input: failed ? 0 : input + cacheRead, output: failed ? 0 : output + thoughts, total: failed ? 0 : usageDetails.total }, unit: "TOKENS",
          promptTokens: failed ? 0 : input + cacheRead, completionTokens: failed ? 0 : output + thoughts, totalTokens: failed ? 0 : usageDetails.total,
          calculatedInputCost: null, calculatedOutputCost: null, calculatedTotalCost: failed ? null : input * 2.5e-6 + output * 1e-5,
        });
      }
    }
  }
  await Promise.all([runs.close(), traces.close(), observations.close()]);
  return {
    files: [runs.path, observations.path, traces.path],
    records: written(),
    bytes: runs.bytes + traces.bytes + observations.bytes,
    billableCalls,
    totals,
  };
}
