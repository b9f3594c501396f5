/**
 * @module Token counts estimated from a model call's text, for mappings that opt in with the
 * `estimate_usage` param. The tokenizer (gpt-tokenizer, o200k_base: GPT-4o and later) takes
 * ~60 MB and ~0.2 s to load, so it is loaded on the first estimate, not at start-up.
 */
import { createRequire } from "node:module";
import type { CallText, TraceRecord, Usage } from "../model/index.js";

type CountTokens = (text: string, options?: { disallowedSpecial?: Set<string> }) => number;

let countTokens: CountTokens | undefined;

function tokenizer(): CountTokens {
  // Synchronous because evaluation is; the CommonJS build loads with require.
  countTokens ??= (createRequire(import.meta.url)("gpt-tokenizer/encoding/o200k_base") as { countTokens: CountTokens }).countTokens;
  return countTokens;
}

/** Text that looks like a special token (`<|endoftext|>`) is counted as the text it is, never refused. */
const NONE_SPECIAL = new Set<string>();

export function estimateTokens(text: string | null): number {
  return text ? tokenizer()(text, { disallowedSpecial: NONE_SPECIAL }) : 0;
}

/** Input and output estimated from the text; nothing is known about caching or reasoning. */
export function estimatedUsage(text: CallText): Usage {
  return { input: estimateTokens(text.input), output: estimateTokens(text.output), cacheRead: 0, cacheWrite: 0, reasoning: 0 };
}

/**
 * The record as a mapping that estimates sees it: usage from its text. `usageEstimated` keeps its
 * meaning (the platform's own estimate), so rules about platform estimates still apply; the
 * events are marked estimated by the evaluator.
 */
export function withEstimatedUsage(record: TraceRecord & { text: CallText }): TraceRecord {
  return { ...record, usage: estimatedUsage(record.text) };
}
