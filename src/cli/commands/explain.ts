import type { Redis } from "ioredis";
import type { Config } from "../../config/env.js";
import type { RedisLedger } from "../../ledger/redis-ledger.js";
import { loadMappingSet } from "../../mapping/index.js";
import { DESTINATIONS, UserError, type BillableEvent, type Destination } from "../../model/index.js";
import { mapInputs } from "../../pipeline/map-inputs.js";
import { baseContext, connectRedis, ledgerFor } from "../context.js";
import { resolveInputs } from "../inputs.js";

export interface ExplainOptions {
  inputs: string[];
  mapping?: string;
  json?: boolean;
}

export interface Explanation {
  id: string;
  /** What the id named: one billable event, or a source record (run / observation) and its events. */
  matched: "event" | "record" | "nothing";
  events: (BillableEvent & { delivery: Record<Destination, { status: "delivered" | "not delivered" | "dead-lettered"; reason?: string }> })[];
  skips: { source_record_id: string; reason: string }[];
}

/**
 * The audit trail: from an event id (or a source record id) back to the run / observation, the
 * mapping and its version, and what each destination's ledger says happened to it.
 */
export async function explain(id: string, opts: ExplainOptions, deps: { ledger: Pick<RedisLedger, "filterUndelivered" | "deadLetterOf">; mappingsDir: string }): Promise<Explanation> {
  if (!opts.inputs.length) throw new UserError("explain needs --inputs: the exports the event or record came from");
  const mappings = await loadMappingSet(opts.mapping ?? deps.mappingsDir);
  const found: BillableEvent[] = [];
  const skips: Explanation["skips"] = [];
  let matched: Explanation["matched"] = "nothing";
  for await (const item of mapInputs(await resolveInputs(opts.inputs), mappings)) {
    if (item.kind === "event" && (item.event.id === id || item.event.source.record_id === id)) {
      if (item.event.id === id) matched = "event";
      else if (matched === "nothing") matched = "record";
      if (!found.some((e) => e.id === item.event.id)) found.push(item.event);
    } else if (item.kind === "skip" && item.skip.source_record_id === id) {
      skips.push({ source_record_id: item.skip.source_record_id, reason: item.skip.reason });
      if (matched === "nothing") matched = "record";
    }
  }
  const events: Explanation["events"] = [];
  for (const e of found) {
    const delivery = {} as Explanation["events"][number]["delivery"];
    for (const d of DESTINATIONS) {
      const dead = await deps.ledger.deadLetterOf(d, e.id);
      if (dead) delivery[d] = { status: "dead-lettered", reason: dead.reason };
      else delivery[d] = { status: (await deps.ledger.filterUndelivered(d, [e.id])).length ? "not delivered" : "delivered" };
    }
    events.push({ ...e, delivery });
  }
  return { id, matched, events, skips };
}

export function renderExplanation(x: Explanation): string {
  if (x.matched === "nothing") return `${x.id}: no event or source record with this id in the given inputs.\n`;
  const out: string[] = [`${x.id}: ${x.matched === "event" ? "billable event" : "source record"}`];
  for (const s of x.skips) out.push(`  not billed: ${s.reason}`);
  for (const e of x.events) {
    out.push(
      `  event ${e.id}`,
      `    ${e.customer} · ${e.metric} = ${e.value} at ${e.timestamp} · ${Object.entries(e.properties).map(([k, v]) => `${k}=${v}`).join(" ")}`,
      `    from ${e.source.platform} record ${e.source.record_id} (trace ${e.source.trace_id}) by mapping ${e.mappingVersion ?? e.mapping}`,
    );
    for (const [d, s] of Object.entries(e.delivery)) out.push(`    ${d}: ${s.status}${s.reason ? ` (${s.reason})` : ""}`);
  }
  return out.join("\n") + "\n";
}

export async function explainCommand(id: string, opts: ExplainOptions, out: NodeJS.WritableStream = process.stdout, ctx?: { redis: Redis; config: Config }): Promise<number> {
  const config = ctx?.config ?? baseContext().config;
  const redis = ctx?.redis ?? (await connectRedis(config));
  try {
    const x = await explain(id, opts, { ledger: ledgerFor(redis, config), mappingsDir: config.mappingsDir });
    out.write(opts.json ? `${JSON.stringify(x, null, 2)}\n` : renderExplanation(x));
    return x.matched === "nothing" ? 1 : 0;
  } finally {
    if (!ctx) await redis.quit();
  }
}
