import type { Usage } from "../../model/index.js";
import { isObject, optTokens, quickTokens, tokens, type Json } from "../raw.js";

/**
 * LangChain/LangSmith `UsageMetadata` → Usage. Already inclusive: `input_tokens` contains cache
 * reads and writes, `output_tokens` contains reasoning.
 */
export function usageFromUsageMetadata(um: Json, field: string): Usage {
  const details = isObject(um["input_token_details"]) ? um["input_token_details"] : {};
  const outDetails = isObject(um["output_token_details"]) ? um["output_token_details"] : {};
  const d = (key: string) => quickTokens(details[key]) ?? tokens(details[key], `${field}.input_token_details.${key}`);
  const usage: Usage = {
    input: tokens(um["input_tokens"], `${field}.input_tokens`),
    output: tokens(um["output_tokens"], `${field}.output_tokens`),
    // service_tier priority/flex renames the bucket (priority_cache_read) instead of adding to it.
    cacheRead: d("cache_read") + d("priority_cache_read") + d("flex_cache_read"),
    cacheWrite: cacheWrites(d("cache_creation"), d("ephemeral_5m_input_tokens") + d("ephemeral_1h_input_tokens") + d("ephemeral_1hr_input_tokens")),
    reasoning: tokens(outDetails["reasoning"], `${field}.output_token_details.reasoning`),
  };
  return checked(usage, field);
}

/**
 * Only the server's counts (`prompt_tokens`…): LangSmith computed them, estimating with
 * tiktoken when the client sent none. v2 wraps the detail maps as `{raw: {...}}`.
 */
export function usageFromServerCounts(run: Json): Usage | null {
  const input = optTokens(run["prompt_tokens"], "prompt_tokens");
  const output = optTokens(run["completion_tokens"], "completion_tokens");
  if (input === null && output === null) return null;
  const pd = unwrapRaw(run["prompt_token_details"]);
  const cd = unwrapRaw(run["completion_token_details"]);
  const d = (key: string) => quickTokens(pd[key]) ?? tokens(pd[key], `prompt_token_details.${key}`);
  return checked(
    {
      input: input ?? 0,
      output: output ?? 0,
      cacheRead: d("cache_read"),
      cacheWrite: cacheWrites(d("cache_creation"), d("ephemeral_5m_input_tokens") + d("ephemeral_1h_input_tokens") + d("ephemeral_1hr_input_tokens")),
      reasoning: tokens(cd["reasoning"], "completion_token_details.reasoning"),
    },
    "prompt_tokens",
  );
}

/**
 * `cache_creation` and the `ephemeral_*` TTL split are alternatives (newer langchain-anthropic
 * puts the split in ephemeral_* and sets cache_creation to 0): adding both double-counts.
 */
function cacheWrites(aggregate: number, ttlSplit: number): number {
  return ttlSplit > 0 ? ttlSplit : aggregate;
}

function checked(u: Usage, field: string): Usage {
  if (u.cacheRead + u.cacheWrite > u.input) {
    throw new Error(`${field}: cache tokens (${u.cacheRead} read + ${u.cacheWrite} written) exceed input tokens ${u.input}`);
  }
  return u;
}

function unwrapRaw(value: unknown): Json {
  if (!isObject(value)) return {};
  return isObject(value["raw"]) ? value["raw"] : value;
}
