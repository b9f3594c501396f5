import type { SandboxSeed } from "./sandbox.js";

/** The Lago subscription the demo seed gives a customer. */
export const demoSubscriptionId = (customer: string): string => `sub_${customer}`;

/**
 * A seed where every customer has one active Lago subscription `sub_<customer>` and every metric
 * exists on both sides: a Lago `sum_agg` billable metric on `valueProperty`, and an OpenMeter SUM
 * meter (slug = eventType = metric) grouped by model, type and feature.
 */
export function demoSeed(customers: string[], metrics: { metric: string; valueProperty: string }[]): SandboxSeed {
  return {
    lago: {
      customers: customers.map((c) => ({
        external_id: c,
        subscriptions: [{ external_id: demoSubscriptionId(c), plan_code: "tracebill_demo", status: "active" as const }],
      })),
      billable_metrics: metrics.map((m) => ({ code: m.metric, aggregation_type: "sum_agg" as const, field_name: m.valueProperty })),
    },
    openmeter: {
      meters: metrics.map((m) => ({
        slug: m.metric,
        eventType: m.metric,
        aggregation: "SUM" as const,
        valueProperty: `$.${m.valueProperty}`,
        groupBy: { model: "$.model", type: "$.type", feature: "$.feature" },
      })),
    },
  };
}
