import type { Usage } from "../../model/index.js";
import { isObject, optEnum, optTokens, quickTokens, tokens, type Json } from "../raw.js";

type Bucket = "input" | "output" | "reasoning" | "cacheRead" | "cacheWrite" | "cacheWrite5m" | "cacheWrite1h" | "ignore";

/**
 * Which bucket a `usageDetails` key counts in. The vocabulary depends on how the data reached
 * Langfuse (OpenAI integration, LangChain handler, OTel, Vercel AI SDK, LiteLLM, raw Anthropic),
 * so keys are classified by their parts, case-insensitively.
 */
export function classifyUsageKey(key: string): Bucket {
  const k = key.toLowerCase();
  if (k.includes("total")) return "ignore";
  if (k.includes("cache_read") || k.includes("cached")) return "cacheRead";
  if (k.includes("cache_creation") || k.includes("cache_write") || k.includes("ephemeral")) {
    if (/(^|_)5m(_|$)/.test(k)) return "cacheWrite5m";
    if (/(^|_)1hr?(_|$)/.test(k)) return "cacheWrite1h";
    return "cacheWrite";
  }
  if (k.includes("reasoning") || k.includes("thoughts")) return "reasoning";
  if (k.startsWith("output") || k.startsWith("completion") || k.includes("candidates")) return "output";
  if (k.startsWith("input") || k.startsWith("prompt")) return "input";
  return "ignore";
}

/** Keys seen so far and their bucket: a handful of vocabularies, so a few dozen keys in practice. */
const buckets = new Map<string, Bucket>();
const MAX_REMEMBERED_KEYS = 1000;

function bucketOf(key: string): Bucket {
  let bucket = buckets.get(key);
  if (bucket === undefined) {
    bucket = classifyUsageKey(key);
    // Bounded: a file with ever-new keys must not grow memory.
    if (buckets.size < MAX_REMEMBERED_KEYS) buckets.set(key, bucket);
  }
  return bucket;
}

/**
 * Langfuse `usageDetails` → the model's inclusive Usage. Langfuse buckets are meant to be
 * exclusive (`input` excludes every cache key, `output` excludes reasoning), so they are added
 * back; LiteLLM breaks the contract and sends `input` = prompt_tokens, cache reads included.
 */
export function usageFromUsageDetails(details: Json, inclusiveInput: boolean): Usage | null {
  const sum: Record<Bucket, number> = { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0, cacheWrite5m: 0, cacheWrite1h: 0, ignore: 0 };
  let counted = false;
  let total = 0;
  for (const key of Object.keys(details)) {
    const value = details[key];
    const n = quickTokens(value) ?? tokens(value, `usageDetails.${key}`);
    const bucket = bucketOf(key);
    if (bucket === "ignore") {
      if (key.toLowerCase() === "total") total = n;
      continue;
    }
    counted = true;
    // The same cache quantity can arrive under two vocabularies (Vercel Bedrock sends both
    // input_cache_write and input_cache_creation): take the largest rather than the sum.
    sum[bucket] = isCacheBucket(bucket) ? Math.max(sum[bucket], n) : sum[bucket] + n;
  }
  if (!counted) {
    // Embedding prices are on `total` only; an empty map means nothing was reported.
    return total > 0 ? { input: total, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 } : null;
  }
  // Aggregate write keys, else the TTL breakdown (raw Anthropic sends both: the breakdown duplicates).
  const cacheWrite = sum.cacheWrite > 0 ? sum.cacheWrite : sum.cacheWrite5m + sum.cacheWrite1h;
  const cacheRead = sum.cacheRead;
  let input = inclusiveInput ? sum.input : sum.input + cacheRead + cacheWrite;
  // Older LiteLLM versions add Anthropic cache reads but not writes to prompt_tokens: an input
  // smaller than its cache parts can only mean the writes are missing.
  if (inclusiveInput && input < cacheRead + cacheWrite) input += cacheWrite;
  if (cacheRead + cacheWrite > input) {
    throw new Error(`usageDetails: cache tokens (${cacheRead} read + ${cacheWrite} written) exceed input tokens ${input}`);
  }
  return { input, output: sum.output + sum.reasoning, cacheRead, cacheWrite, reasoning: sum.reasoning };
}

const UNITS = ["TOKENS", "CHARACTERS", "MILLISECONDS", "SECONDS", "IMAGES", "REQUESTS"] as const;

/** Legacy `usage {unit, input, output, total}` (Langfuse v2 servers, before usageDetails). No cache split. */
export function usageFromLegacyUsage(usage: unknown): Usage | null {
  if (!isObject(usage)) return null;
  const unit = optEnum(usage["unit"], UNITS, "usage.unit");
  // Characters, seconds or images are not token counts.
  if (unit !== null && unit !== "TOKENS") return null;
  const input = optTokens(usage["input"], "usage.input");
  const output = optTokens(usage["output"], "usage.output");
  const total = optTokens(usage["total"], "usage.total");
  if (input === null && output === null) {
    return total ? { input: total, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 } : null;
  }
  return { input: input ?? 0, output: output ?? 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 };
}

function isCacheBucket(b: Bucket): boolean {
  return b === "cacheRead" || b === "cacheWrite" || b === "cacheWrite5m" || b === "cacheWrite1h";
}
