import { z } from "zod";
import { seededRandom } from "../runtime/random.js";
import type { DestinationFaults, FaultKind, FaultPlan } from "./sandbox.js";

type Dest = "lago" | "openmeter";

const probability = z.number().min(0).max(1).optional();
const destinationFaults = z.strictObject({
  status5xx: probability,
  html502: probability,
  status429: probability,
  reset: probability,
  acceptThen500: probability,
  acceptThenReset: probability,
  slowMs: z.number().int().min(0).max(600_000).optional(),
  retryAfterSeconds: z.number().min(0).optional(),
  scope: z.enum(["ingest", "all"]).optional(),
  limit: z.number().int().min(0).optional(),
});

/** Validates a plan received on the admin endpoint (other processes drive faults through it). */
export const faultPlanSchema = z.strictObject({
  seed: z.number().int().optional(),
  lago: destinationFaults.optional(),
  openmeter: destinationFaults.optional(),
});

/** Order in which probabilities are laid out on the single draw (new kinds go last, so existing seeds keep their sequences). */
const KINDS: readonly FaultKind[] = ["status5xx", "html502", "status429", "reset", "acceptThen500", "acceptThenReset"];

export { seededRandom } from "../runtime/random.js";

export interface FaultDecision {
  kind: FaultKind | null;
  slowMs: number;
  retryAfterSeconds: number;
}

/** Decides, per request, which fault (if any) the sandbox injects. One RNG stream per destination. */
export class FaultInjector {
  private plan: FaultPlan = {};
  private rng: Record<Dest, () => number> = { lago: seededRandom(1), openmeter: seededRandom(1) };
  private injected: Record<Dest, number> = { lago: 0, openmeter: 0 };
  readonly counts: Record<Dest, Partial<Record<FaultKind, number>>> = { lago: {}, openmeter: {} };

  constructor(plan: FaultPlan = {}) {
    this.set(plan);
  }

  set(plan: FaultPlan): void {
    this.plan = structuredClone(plan);
    const seed = plan.seed ?? 1;
    // Separate streams so Lago traffic does not shift OpenMeter's fault sequence.
    this.rng = { lago: seededRandom(seed), openmeter: seededRandom(seed ^ 0x9e3779b9) };
    this.injected = { lago: 0, openmeter: 0 };
    this.counts.lago = {};
    this.counts.openmeter = {};
  }

  current(): FaultPlan {
    return structuredClone(this.plan);
  }

  decide(dest: Dest, isIngest: boolean): FaultDecision {
    const f: DestinationFaults | undefined = this.plan[dest];
    const none: FaultDecision = { kind: null, slowMs: 0, retryAfterSeconds: f?.retryAfterSeconds ?? 1 };
    if (!f) return none;
    const eligible = isIngest || f.scope === "all";
    if (!eligible) return none;
    const decision = { ...none, slowMs: f.slowMs ?? 0 };
    if (f.limit !== undefined && this.injected[dest] >= f.limit) return decision;
    const anyProbability = KINDS.some((k) => (f[k] ?? 0) > 0);
    if (!anyProbability) return decision;
    const r = this.rng[dest]();
    let edge = 0;
    for (const k of KINDS) {
      edge += f[k] ?? 0;
      if (r < edge) {
        this.injected[dest]++;
        this.counts[dest][k] = (this.counts[dest][k] ?? 0) + 1;
        return { ...decision, kind: k };
      }
    }
    return decision;
  }
}
