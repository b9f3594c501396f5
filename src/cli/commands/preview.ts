import { loadMappingSet } from "../../mapping/index.js";
import type { Quarantined, Skip } from "../../model/index.js";
import { UserError } from "../../model/index.js";
import { table } from "../table.js";
import { mapInputs } from "../../pipeline/map-inputs.js";
import { overrideOf, resolveInputs, type InputOptions } from "../inputs.js";

export interface PreviewOptions extends InputOptions {
  mapping: string;
  format: string;
}

interface Row { customer: string; metric: string; model: string; type: string; value: number; events: number }

/** Dry run: what would be billed, with no Redis and no network. */
export async function previewCommand(inputs: string[], opts: PreviewOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (opts.format !== "table" && opts.format !== "json") throw new UserError(`--format must be table or json (got "${opts.format}")`);
  const mappings = await loadMappingSet(opts.mapping);
  const files = await resolveInputs(inputs);
  const override = overrideOf(opts);
  const notes: string[] = [];
  const skipped: Skip[] = [];
  const quarantined: Quarantined[] = [];
  // The same call can be traced twice (overlapping exports, a gateway and an SDK): its events
  // share one id and the ledger bills it once, so the preview counts it once too.
  const seen = new Set<string>();
  const fresh = (id: string) => (seen.has(id) ? false : (seen.add(id), true));
  if (opts.format === "json") {
    // Events are streamed out as they are produced; only skips and quarantine entries are held.
    out.write('{"events":[');
    let first = true;
    for await (const item of mapInputs(files, mappings, { override })) {
      if (item.kind === "event") {
        const e = item.event;
        if (!fresh(e.id)) continue;
        const doc = { id: e.id, customer: e.customer, metric: e.metric, value: e.value, timestamp: e.timestamp, properties: e.properties, source: e.source, mapping: e.mapping };
        out.write((first ? "\n" : ",\n") + JSON.stringify(doc));
        first = false;
      } else if (item.kind === "skip") skipped.push({ source_record_id: item.skip.source_record_id, reason: item.skip.reason });
      else if (item.kind === "quarantine") quarantined.push(item.entry);
      else if (item.kind === "note") process.stderr.write(`note: ${item.input}: ${item.note}\n`);
    }
    out.write(`\n],\n"skipped":${JSON.stringify(skipped)},\n"quarantined":${JSON.stringify(quarantined)}}\n`);
    return 0;
  }

  const rows = new Map<string, Row>();
  for await (const item of mapInputs(files, mappings, { override })) {
    if (item.kind === "event") {
      const e = item.event;
      if (!fresh(e.id)) continue;
      const model = String(e.properties.model ?? "");
      const type = String(e.properties.type ?? "");
      const k = [e.customer, e.metric, model, type].join("\u001f");
      const r = rows.get(k) ?? { customer: e.customer, metric: e.metric, model, type, value: 0, events: 0 };
      r.value += e.value;
      r.events += 1;
      rows.set(k, r);
    } else if (item.kind === "skip") skipped.push(item.skip);
    else if (item.kind === "quarantine") quarantined.push(item.entry);
    else if (item.kind === "note") notes.push(`${item.input}: ${item.note}`);
  }
  const t = table(["Customer", "Metric", "Model", "Type", "Quantity", "Events"], ["left", "left", "left", "left", "right", "right"]);
  const sorted = [...rows.values()].sort((a, b) => a.customer.localeCompare(b.customer) || a.metric.localeCompare(b.metric) || a.model.localeCompare(b.model) || a.type.localeCompare(b.type));
  for (const r of sorted) t.push([r.customer, r.metric, r.model || "—", r.type || "—", r.value.toLocaleString("en-US"), String(r.events)]);
  out.write(`Would bill (mapping set ${mappings.mappings.map((m) => `${m.name}@${m.version}`).join(", ")}):\n${t.toString()}\n`);
  const reasons = new Map<string, number>();
  for (const s of skipped) reasons.set(s.reason, (reasons.get(s.reason) ?? 0) + 1);
  if (reasons.size) {
    const st = table(["Skipped (not billed) — reason", "Records"], ["left", "right"]);
    for (const [reason, n] of [...reasons.entries()].sort((a, b) => b[1] - a[1])) st.push([reason, String(n)]);
    out.write(`${st.toString()}\n`);
  }
  if (quarantined.length) {
    const qt = table(["Quarantined input", "Position", "Reason"], ["left", "left", "left"]);
    for (const q of quarantined.slice(0, 50)) qt.push([q.input, q.position, q.reason]);
    out.write(`${qt.toString()}\n`);
    if (quarantined.length > 50) out.write(`… and ${quarantined.length - 50} more quarantined records\n`);
  }
  for (const n of notes) out.write(`note: ${n}\n`);
  out.write(`${sorted.reduce((a, r) => a + r.events, 0)} events, ${skipped.length} skipped, ${quarantined.length} quarantined.\n`);
  return 0;
}
