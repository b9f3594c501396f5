import { expect } from "vitest";
import type { BillableEvent, EventOutcome, UsageTotal } from "../../src/model/index.js";
import type { BillingSink, SendOptions, SinkOutcome } from "../../src/sinks/sink.js";

export const METRIC = { metric: "llm_tokens", valueProperty: "value" };
export const MODELS = ["gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro"];

/** A BillableEvent as the mapping stage would produce it; `i` makes id, value, model and time vary. */
export function billable(i: number, over: Partial<BillableEvent> = {}): BillableEvent {
  return {
    id: `tb_evt_${String(i).padStart(5, "0")}`,
    customer: "acme",
    metric: "llm_tokens",
    value: 100 + i,
    timestamp: new Date(Date.UTC(2024, 6, 10, 10, 0, 0) + i * 1500).toISOString(),
    properties: { model: MODELS[i % MODELS.length]!, type: i % 2 ? "output" : "input" },
    source: { platform: "langsmith", record_id: `run_${i}`, trace_id: `trace_${i}` },
    mapping: "llm-tokens",
    ...over,
  };
}

export const WINDOW = { from: new Date("2024-07-10T00:00:00Z"), to: new Date("2024-07-11T00:00:00Z") };

/** What the destination should hold for `events`, in UsageTotal form. */
export function expectedTotals(events: BillableEvent[]): UsageTotal[] {
  const rows = new Map<string, UsageTotal>();
  for (const e of events) {
    const model = typeof e.properties.model === "string" ? e.properties.model : "";
    const k = `${e.customer}|${e.metric}|${model}`;
    const r = rows.get(k) ?? { customer: e.customer, metric: e.metric, model, value: 0, events: 0 };
    r.value += e.value;
    r.events++;
    rows.set(k, r);
  }
  return sortTotals([...rows.values()]);
}

export const sortTotals = (t: UsageTotal[]): UsageTotal[] =>
  [...t].sort((a, b) => a.customer.localeCompare(b.customer) || a.metric.localeCompare(b.metric) || a.model.localeCompare(b.model));

export function tally(outcomes: EventOutcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) out[o.status] = (out[o.status] ?? 0) + 1;
  return out;
}

export interface Settled {
  /** Sends made, the first included. */
  rounds: number;
  /** Final (non-retry) outcome per event id. */
  final: Map<string, SinkOutcome>;
  /** Every retry outcome seen on the way. */
  retries: SinkOutcome[];
  /** Events still `retry` when the rounds ran out. */
  pending: BillableEvent[];
}

/** What a worker does, minus the queue: send, keep the `retry` leftovers, send them again. */
export async function sendUntilSettled(sink: BillingSink, events: BillableEvent[], maxRounds = 300, options?: SendOptions): Promise<Settled> {
  const final = new Map<string, SinkOutcome>();
  const retries: SinkOutcome[] = [];
  let pending = events;
  let rounds = 0;
  while (pending.length && rounds < maxRounds) {
    rounds++;
    const outcomes = await sink.send(pending, options);
    expect(outcomes).toHaveLength(pending.length);
    const next: BillableEvent[] = [];
    pending.forEach((e, i) => {
      const o = outcomes[i]!;
      if (o.status === "retry") {
        retries.push(o);
        next.push(e);
      } else final.set(e.id, o);
    });
    pending = next;
  }
  return { rounds, final, retries, pending };
}
