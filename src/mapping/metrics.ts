/** @module What a mapping set emits, for reconciliation and destination healthchecks. */
import type { MappingSet } from "./compile.js";

export interface EmittedMetric {
  metric: string;
  /** Quantity property on the wire; the loader guarantees one per metric across the set. */
  valueProperty: string;
}

/** Distinct metrics the set can emit, in first-seen order. */
export function metricsOf(set: MappingSet): EmittedMetric[] {
  const seen = new Map<string, EmittedMetric>();
  for (const m of set.mappings) {
    for (const { metric, valueProperty } of m.metrics) {
      if (!seen.has(metric)) seen.set(metric, { metric, valueProperty });
    }
  }
  return [...seen.values()];
}
