/**
 * Aggregates compared by reconciliation: one row per destination × customer × metric × model
 * (model = "" when the event has none).
 */
export interface UsageTotal {
  customer: string;
  metric: string;
  model: string;
  value: number;
  events: number;
}

export type Destination = "lago" | "openmeter";
export const DESTINATIONS: readonly Destination[] = ["lago", "openmeter"] as const;
