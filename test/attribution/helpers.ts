import { fileURLToPath } from "node:url";
import { defaultAttributionConfig, type ActivityEntry, type AttributionConfig, type AttributionItem, type UnattributedEntry } from "../../src/attribution/index.js";
import { evaluateRecord, loadMappingSet, type MappingSet } from "../../src/mapping/index.js";
import type { TraceRecord } from "../../src/model/index.js";

export const LLM_TOKENS = fileURLToPath(new URL("../../mappings/llm-tokens.yaml", import.meta.url));

/** The shipped default policy, loaded from its file (not the directory). */
export function llmTokens(): Promise<MappingSet> {
  return loadMappingSet(LLM_TOKENS);
}

/** The default config with overrides; weights as in the shipped file unless given. */
export function config(overrides: Partial<AttributionConfig> = {}): AttributionConfig {
  return { ...defaultAttributionConfig(), model: "weighted", weights: { "gpt-4o": 2, "gpt-4o-mini": 0.5 }, ...overrides };
}

export function act(window: string, tenant: string, model: string, quantity: number, calls = 1, metric = "llm_tokens"): ActivityEntry {
  return { window, metric, tenant, model, quantity, calls };
}

export function un(window: string, model: string, type: string, quantity: number, metric = "llm_tokens"): UnattributedEntry {
  return { window, metric, model, type, quantity, records: 1, platform: "langsmith", valueProperty: "value" };
}

/**
 * What the pipeline yields for these records (no parking store): events, and skips that carry
 * the record and whether its trace context was found (the map-inputs edit this module relies on).
 */
export function itemsOf(set: MappingSet, records: readonly (TraceRecord | [TraceRecord, boolean])[]): AttributionItem[] {
  const items: AttributionItem[] = [];
  for (const entry of records) {
    const [record, contextFound] = Array.isArray(entry) ? entry : [entry, true];
    const { events, skips } = evaluateRecord(set, record);
    for (const event of events) items.push({ kind: "event", event });
    for (const skip of skips) items.push(skip.code === "no-customer" ? { kind: "skip", skip, record, contextFound } : { kind: "skip", skip });
  }
  return items;
}

/** Deterministic shuffle (seeded LCG), so "any order" tests are reproducible. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
