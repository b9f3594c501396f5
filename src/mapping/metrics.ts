/** @module What a mapping set emits, for reconciliation, destination healthchecks and meter definitions. */
import type { DestinationNames } from "../model/index.js";
import type { MappingSet } from "./compile.js";

export interface EmittedMetric {
  metric: string;
  /** Quantity property on the wire; the loader guarantees one per metric across the set. */
  valueProperty: string;
  /**
   * Names Lago / OpenMeter use instead of ours, when the mapping gives them (the loader
   * guarantees every mapping emitting the metric agrees). Read-back must query these.
   */
  destinations?: DestinationNames;
}

/** Distinct metrics the set can emit (enabled mappings only), in first-seen order. */
export function metricsOf(set: MappingSet): EmittedMetric[] {
  const seen = new Map<string, EmittedMetric>();
  for (const m of set.mappings) {
    for (const { metric, valueProperty, destinations } of m.metrics) {
      if (!seen.has(metric)) seen.set(metric, destinations ? { metric, valueProperty, destinations } : { metric, valueProperty });
    }
  }
  return [...seen.values()];
}
