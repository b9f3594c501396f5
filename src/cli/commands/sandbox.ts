import { join } from "node:path";
import { loadMappingSet, metricsOf } from "../../mapping/index.js";
import { UserError } from "../../model/index.js";
import { packageRoot } from "../../runtime/paths.js";
import { demoSeed, runSandboxStandalone } from "../../sandbox/index.js";

export interface SandboxOptions {
  port: string;
  lagoKey: string;
  openmeterKey: string;
  /** Comma-separated customer ids to create, each with one active subscription (sub_<id>). */
  customers?: string;
  /** Mapping set whose metrics to create (Lago billable metrics, OpenMeter meters); default: the shipped mappings. */
  mapping?: string;
}

/**
 * Runs the local Lago/OpenMeter-compatible sandbox until SIGTERM/SIGINT. With `--customers` it
 * starts seeded like the demo's (the mapping set's metrics and meters, the customers with a
 * subscription each), so a worker can deliver to it straight away; without, it starts empty.
 */
export async function sandboxCommand(opts: SandboxOptions): Promise<number> {
  const customers = (opts.customers ?? "").split(",").map((c) => c.trim()).filter(Boolean);
  if (opts.customers !== undefined && customers.length === 0) throw new UserError("--customers needs at least one customer id (comma-separated)");
  const seed = customers.length ? demoSeed(customers, metricsOf(await loadMappingSet(opts.mapping ?? join(packageRoot(), "mappings")))) : undefined;
  await runSandboxStandalone({ port: Number(opts.port), lagoApiKey: opts.lagoKey, openmeterApiKey: opts.openmeterKey, ...(seed ? { seed } : {}) });
  return 0;
}
