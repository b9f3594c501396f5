import type { DestinationNames } from "../model/index.js";
import type { SandboxSeed } from "./sandbox.js";

/** The Lago subscription the demo seed gives a customer. */
export const demoSubscriptionId = (customer: string): string => `sub_${customer}`;

/**
 * A seed where every customer has one active Lago subscription `sub_<customer>` and every metric
 * exists on both sides: a Lago `sum_agg` billable metric on `valueProperty`, and an OpenMeter SUM
 * meter (slug = eventType = metric) grouped by model, type and feature.
 */
export function demoSeed(customers: string[], metrics: { metric: string; valueProperty: string; destinations?: DestinationNames }[]): SandboxSeed {
  // Each destination is seeded under the names the mapping sends with (ours unless renamed).
  const lagoName = (m: (typeof metrics)[number], p: string) => m.destinations?.lago?.properties?.[p] ?? p;
  const omName = (m: (typeof metrics)[number], p: string) => m.destinations?.openmeter?.properties?.[p] ?? p;
  return {
    lago: {
      customers: customers.map((c) => ({
        external_id: c,
        subscriptions: [{ external_id: demoSubscriptionId(c), plan_code: "tracebill_demo", status: "active" as const }],
      })),
      billable_metrics: metrics.map((m) => ({ code: m.destinations?.lago?.code ?? m.metric, aggregation_type: "sum_agg" as const, field_name: lagoName(m, m.valueProperty) })),
    },
    openmeter: {
      meters: metrics.map((m) => {
        const type = m.destinations?.openmeter?.type ?? m.metric;
        return {
          slug: type.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, ""),
          eventType: type,
          aggregation: "SUM" as const,
          valueProperty: `$.${omName(m, m.valueProperty)}`,
          groupBy: Object.fromEntries(["model", "type", "feature"].map((p) => [omName(m, p), `$.${omName(m, p)}`])),
        };
      }),
    },
  };
}
