import type { Report, RowStatus } from "../reconcile.js";

const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString("en-US") : n.toLocaleString("en-US", { maximumFractionDigits: 6 }));
const signed = (n: number) => (n > 0 ? `+${fmt(n)}` : fmt(n));
const badge: Record<RowStatus, string> = {
  matched: "✅ matched", missing: "❌ missing", excess: "⚠️ excess", unbillable: "🚫 unbillable", pending: "⏳ pending", late: "🕘 late",
};
const cell = (s: string) => s.replace(/\|/g, "\\|") || "—";

/** The report finance reads before invoices go out: verdict first, then what differs, then detail. */
export function renderMarkdown(r: Report): string {
  const out: string[] = [];
  out.push(`# Reconciliation — ${r.destination}`, "");
  const sc = r.statusCounts ?? { matched: r.summary.matched, missing: r.summary.missing, excess: r.summary.excess, unbillable: 0, pending: 0, late: 0 };
  const differ = sc.missing + sc.excess + sc.unbillable + sc.late;
  const more = [
    sc.unbillable ? `, ${sc.unbillable} unbillable (held but never invoiced)` : "",
    sc.late ? `, ${sc.late} late (usage before the open billing period)` : "",
  ].join("");
  out.push(
    r.ok
      ? `**✅ Everything matches.** ${r.summary.rows} customer × metric × model rows, ${fmt(r.summary.sent)} units delivered and held.`
      : `**❌ ${differ} of ${r.summary.rows} rows differ** — ${sc.missing} missing (biller holds less than we sent), ${sc.excess} excess (biller holds more: possible double billing)${more}.`,
    "",
  );
  if (sc.pending) out.push(`**⏳ ${sc.pending} row(s) pending:** short by no more than what was delivered in the last ${r.pendingMinutes ?? "?"} minutes (the destination's ingestion lag). Re-run later; they do not count as differences.`, "");
  out.push(`- Window compared: ${r.window.from} → ${r.window.to} (UTC days; asked ${r.requested.from} → ${r.requested.to})`);
  out.push(`- Generated: ${r.generatedAt}`);
  out.push(`- Dead-lettered events (never billed, need attention): ${r.deadLetters.count}`, "");

  const diffs = r.rows.filter((x) => x.status !== "matched");
  if (diffs.length) {
    out.push("## Differences", "", "| Customer | Metric | Model | Sent | Held | Difference | Status |", "|---|---|---|--:|--:|--:|---|");
    for (const x of diffs) out.push(`| ${cell(x.customer)} | ${cell(x.metric)} | ${cell(x.model)} | ${fmt(x.sent)} | ${fmt(x.held)} | ${signed(x.difference)} | ${badge[x.status]} |`);
    out.push("");
    const why = diffs.filter((x) => x.reason);
    if (why.length) {
      out.push("| Customer | Metric | Model | Why |", "|---|---|---|---|");
      for (const x of why) out.push(`| ${cell(x.customer)} | ${cell(x.metric)} | ${cell(x.model)} | ${cell(x.reason ?? "")} |`);
      out.push("");
    }
  }

  out.push("## Per customer", "", "| Customer | Sent | Held | Difference | Status |", "|---|--:|--:|--:|---|");
  for (const c of r.customers) out.push(`| ${cell(c.customer)} | ${fmt(c.sent)} | ${fmt(c.held)} | ${signed(c.difference)} | ${badge[c.status]} |`);
  out.push("");

  out.push("## Detail", "", "| Customer | Metric | Model | Sent | Events sent | Held | Events held | Status |", "|---|---|---|--:|--:|--:|--:|---|");
  for (const x of r.rows) {
    out.push(`| ${cell(x.customer)} | ${cell(x.metric)} | ${cell(x.model)} | ${fmt(x.sent)} | ${fmt(x.sentEvents)} | ${fmt(x.held)} | ${x.heldEvents === null ? "n/a" : fmt(x.heldEvents)} | ${badge[x.status]} |`);
  }
  out.push("");

  if (r.deadLetters.count > 0) {
    out.push("## Dead letters by reason", "", "| Reason | Events |", "|---|--:|");
    for (const [reason, n] of Object.entries(r.deadLetters.byReason).sort((a, b) => b[1] - a[1])) out.push(`| ${cell(reason)} | ${fmt(n)} |`);
    out.push("", "Inspect them with `tracebill dlq list --destination DEST`, retry with `tracebill dlq retry`; they were not billed.", "");
  }
  if (r.syncs?.length) {
    out.push("## Recent syncs to this destination", "", "| Sync | Started | Events | Delivered | Already held | Dead-lettered | Skipped | Quarantined | Waiting for trace |", "|---|---|--:|--:|--:|--:|--:|--:|--:|");
    for (const s of r.syncs) {
      out.push(`| ${s.syncId.slice(0, 8)} | ${s.startedAt} | ${fmt(s.events)} | ${fmt(s.delivered)} | ${fmt(s.already)} | ${fmt(s.dead)} | ${fmt(s.skipped)} | ${fmt(s.quarantined)} | ${fmt(s.parked)} |`);
    }
    out.push("", "| Sync | Input | Records | Events | Quarantined | Notes |", "|---|---|--:|--:|--:|---|");
    for (const s of r.syncs) {
      for (const i of s.inputs) out.push(`| ${s.syncId.slice(0, 8)} | ${cell(i.input)} | ${fmt(i.records)} | ${fmt(i.events)} | ${fmt(i.quarantined)} | ${cell(i.notes.join("; "))} |`);
    }
    out.push("");
  }
  out.push(
    "Statuses: **matched** = biller holds exactly what was delivered; **missing** = biller holds less (revenue at risk); **excess** = biller holds more (customer over-billed); " +
      "**unbillable** = the biller stores these events but will never invoice them (unknown metric code or no subscription); **pending** = short by no more than what was just delivered (ingestion lag), re-run later; " +
      "**late** = held, but usage before the customer's open billing period (outside the invoice being built).",
  );
  return out.join("\n") + "\n";
}
