import type { SinkOutcome } from "../sink.js";

/**
 * Sends `items` with `attempt`; when the destination refuses the request as a whole without
 * naming the culprit (`null` outcomes), halves the refused part and tries each half, until the
 * bad events stand alone. `budget.left` caps the extra requests one send may spend; past it, the
 * still-unjudged events are rejected with `exhausted`.
 */
export async function sendIsolating<T>(
  items: T[],
  attempt: (items: T[]) => Promise<(SinkOutcome | null)[]>,
  budget: { left: number },
  exhausted: string,
): Promise<SinkOutcome[]> {
  const judged = await attempt(items);
  const out: (SinkOutcome | null)[] = items.map((_, k) => judged[k] ?? null);
  const unjudged = out.flatMap((o, k) => (o ? [] : [k]));
  if (!unjudged.length) return out as SinkOutcome[];
  if (unjudged.length === 1 && items.length === 1) return [{ status: "rejected", reason: exhausted }];
  if (budget.left < 2) {
    for (const k of unjudged) out[k] = { status: "rejected", reason: exhausted };
    return out as SinkOutcome[];
  }
  budget.left -= 2;
  const half = Math.ceil(unjudged.length / 2);
  for (const part of [unjudged.slice(0, half), unjudged.slice(half)]) {
    const results = await sendIsolating(part.map((k) => items[k]!), attempt, budget, exhausted);
    part.forEach((k, j) => (out[k] = results[j]!));
  }
  return out as SinkOutcome[];
}
