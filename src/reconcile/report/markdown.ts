import { exclusionTotals } from "../../model/index.js";
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
  const periodDiffers = r.periodUsage?.filter((p) => p.status === "differs").length ?? 0;
  if (periodDiffers) out.push(`**❌ ${periodDiffers} open-period count(s) differ:** the biller's own usage count for the open billing period is not what we sent (see below).`, "");
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

  out.push(...extraSections(r));

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

/** Open-period usage, per-event checks, what was not billed, and the allocation back-test (each when present). */
function extraSections(r: Report): string[] {
  const out: string[] = [];
  if (r.periodUsage?.length) {
    out.push("## Open billing period (as the biller counts it)", "", "What the biller's own usage count for the open period says, against what the ledger recorded over the same days. A difference here is what the invoice being built will get wrong.", "");
    out.push("| Customer | Metric | Period | Sent | Counted by biller | Difference | Events sent | Events counted | Status |", "|---|---|---|--:|--:|--:|--:|--:|---|");
    for (const p of r.periodUsage) {
      const st = p.status === "matched" ? "✅ matched" : p.status === "pending" ? "⏳ pending" : "❌ differs";
      out.push(`| ${cell(p.customer)} | ${cell(p.metric)} | ${p.from.slice(0, 10)} → ${p.to.slice(0, 10)} | ${fmt(p.sent)} | ${fmt(p.counted)} | ${signed(p.difference)} | ${fmt(p.sentEvents)} | ${fmt(p.countedEvents)} | ${st}${p.charges > 1 ? ` (${p.charges} charges on this metric: the first compared)` : ""} |`);
    }
    out.push("");
  }
  if (r.eventChecks?.length) {
    out.push("## Event checks (differing rows, by id)", "", "Each differing row's events, re-mapped from the inputs, looked up at the destination by id. Explain any id with `tracebill explain ID --inputs …`.", "");
    out.push("| Customer | Metric | Model | Status | Events in inputs | Held by biller | Not held | First ids not held |", "|---|---|---|---|--:|--:|--:|---|");
    for (const c of r.eventChecks) out.push(`| ${cell(c.customer)} | ${cell(c.metric)} | ${cell(c.model)} | ${badge[c.status]} | ${fmt(c.events)} | ${fmt(c.held)} | ${fmt(c.absentCount)} | ${cell(c.absent.slice(0, 5).join(", "))} |`);
    out.push("");
  }
  const x = r.exclusions;
  if (x) {
    const t = exclusionTotals(x);
    out.push("## Not billed, and why", "", `From ${x.basis}: ${fmt(x.records)} records read, ${fmt(x.billed)} billed.`, "");
    out.push("### Cache savings", "", `${fmt(t.promptCacheReadTokens + t.cacheHitTokens)} tokens not billed because of caching: ${fmt(t.promptCacheReadTokens)} provider prompt-cache reads inside billed calls, and ${fmt(t.cacheHits)} calls answered from an LLM/semantic cache (${fmt(t.cacheHitTokens)} tokens the model did not process).`, "");
    const cached = x.customers.filter((c) => c.promptCacheReadTokens || c.cacheHits);
    if (cached.length) {
      out.push("| Customer | Prompt-cache reads not billed | Cache hits (calls) | Cache-hit tokens not billed | Total not billed |", "|---|--:|--:|--:|--:|");
      for (const c of cached) out.push(`| ${cell(c.customer || "(no customer)")} | ${fmt(c.promptCacheReadTokens)} | ${fmt(c.cacheHits)} | ${fmt(c.cacheHitTokens)} | ${fmt(c.promptCacheReadTokens + c.cacheHitTokens)} |`);
      out.push("");
    }
    out.push("### Failed calls excluded", "", `${fmt(t.failed)} failed model calls were not billed${t.failedTokens ? ` (${fmt(t.failedTokens)} tokens reported)` : ""}.`, "");
    const failed = x.customers.filter((c) => c.failed);
    if (failed.length) {
      out.push("| Customer | Failed calls | Tokens reported |", "|---|--:|--:|");
      for (const c of failed) out.push(`| ${cell(c.customer || "(no customer)")} | ${fmt(c.failed)} | ${fmt(c.failedTokens)} |`);
      out.push("", "| Error | Calls |", "|---|--:|");
      for (const f of x.failedReasons) out.push(`| ${cell(f.reason)} | ${fmt(f.calls)} |`);
      out.push("");
    }
    out.push("### Unattributed", "", `${fmt(x.unattributed.calls)} successful model calls named no customer (${fmt(x.unattributed.tokens)} tokens): not billed to a guess.${x.unattributed.samples.length ? ` First: ${x.unattributed.samples.slice(0, 5).join(", ")}.` : ""}`, "");
    out.push("### Quarantined", "", `${fmt(x.quarantined.count)} records could not be read or normalized; good records around them were billed.`, "");
    if (x.quarantined.count) {
      out.push("| Reason | Records |", "|---|--:|");
      for (const [reason, n] of Object.entries(x.quarantined.byReason).sort((a, b) => b[1] - a[1])) out.push(`| ${cell(reason)} | ${fmt(n)} |`);
      out.push("", "| Input | Position | Reason |", "|---|---|---|");
      for (const q of x.quarantined.samples.slice(0, 10)) out.push(`| ${cell(q.input)} | ${cell(q.position)} | ${cell(q.reason)} |`);
      out.push("");
    }
  }
  const a = r.allocation;
  if (a) {
    out.push("## Allocation back-test", "", `If unattributed usage were allocated with the \`${a.model}\` model (${a.config}) instead of left unbilled:`, "");
    for (const u of a.unattributed) out.push(`- ${u.metric}: ${fmt(u.total)} unattributed, ${fmt(u.allocated)} would be allocated, ${fmt(u.unallocated)} not (no activity in its window)`);
    out.push("", "| Tenant | Metric | Billed today | With allocation | Difference | Share of unattributed |", "|---|---|--:|--:|--:|--:|");
    for (const row of a.rows) out.push(`| ${cell(row.tenant)} | ${cell(row.metric)} | ${fmt(row.direct)} | ${fmt(row.allocated)} | ${signed(row.difference)} | ${(row.share * 100).toFixed(1)}% |`);
    out.push("");
  }
  return out;
}
