import type { TenantTotals } from "./stack.js";

/**
 * Billed tokens per tenant for examples/ (both platforms together) under the default policy,
 * worked out by hand in examples/README.md (LangSmith + Langfuse rows added):
 *   acme    3,772 + 5,310 input · 1,510 + 1,581 output
 *   globex  4,870 + 6,756       ·   685 +   771
 *   10987   2,340 + 2,570       ·   535 +   564
 *   initech 1,474 + 3,440       ·   195 +   378
 */
export const EXAMPLE_TENANT_TOTALS: TenantTotals = {
  acme: { input: 9_082, output: 3_091 },
  globex: { input: 11_626, output: 1_456 },
  "10987": { input: 4_910, output: 1_099 },
  initech: { input: 4_914, output: 573 },
};

export const EXAMPLE_TENANTS = Object.keys(EXAMPLE_TENANT_TOTALS);

/**
 * test/fixtures/langfuse (observations.jsonl + traces.json) under the default policy, worked out
 * in test/sources/fixture-totals.test.ts; every Langfuse format twin bills the same.
 */
export const LANGFUSE_FIXTURE_TOTALS: TenantTotals = {
  acme: { input: 4336, output: 1530 },
  "10987": { input: 812, output: 230 },
  globex: { input: 2400, output: 500 },
  initech: { input: 1420, output: 220 },
};
