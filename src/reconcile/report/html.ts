import { exclusionTotals } from "../../model/index.js";
import type { Report, RowStatus } from "../reconcile.js";

/** Escape text for HTML element content and quoted attribute values (also valid inside inline SVG). */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

export const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString("en-US") : n.toLocaleString("en-US", { maximumFractionDigits: 6 }));
const signed = (n: number) => (n > 0 ? `+${fmt(n)}` : fmt(n));
const badge = (s: RowStatus) => `<span class="badge badge-${esc(s)}">${esc(s)}</span>`;
/** What each status means for finance; statuses not listed here still render, by name. */
const MEANING: Record<string, string> = {
  missing: "biller holds less than we sent: revenue at risk",
  excess: "biller holds more: possible double billing",
  unbillable: "held but will never be invoiced",
  late: "usage before the open billing period: outside the invoice being built",
  pending: "within the ingestion lag: re-run later",
};
/** Statuses that are not a difference (they leave `ok` true). */
const CLEAN = new Set<string>(["matched", "pending"]);
const num = (n: number | null, text = n === null ? "n/a" : fmt(n)) => `<td class="num">${esc(text)}</td>`;
const txt = (s: string) => `<td>${s ? esc(s) : "—"}</td>`;

function table(id: string, caption: string, head: { label: string; num?: boolean }[], body: string[]): string {
  const th = head.map((h) => `<th scope="col"${h.num ? ' class="num"' : ""}>${esc(h.label)}</th>`).join("");
  return `<table id="${id}"><caption>${esc(caption)}</caption><thead><tr>${th}</tr></thead><tbody>\n${body.join("\n")}\n</tbody></table>`;
}

/**
 * Inline SVG bar chart, one group per customer: expected (what we sent) vs billed (what the biller holds).
 * Every bar carries its number as text so the chart reads without hovering; no script, no library.
 */
export function renderChart(r: Report): string {
  const labelW = 200, barMax = 520, valueW = 200, barH = 16, gap = 4, groupGap = 18, top = 34;
  const width = labelW + barMax + valueW;
  const groupH = barH * 2 + gap;
  const height = top + r.customers.length * (groupH + groupGap) + 4;
  const max = Math.max(0, ...r.customers.flatMap((c) => [c.sent, c.held]));
  const w = (v: number) => (max > 0 ? Math.max(0, (v / max) * barMax) : 0);
  const groups = r.customers.map((c, i) => {
    const y = top + i * (groupH + groupGap);
    const bar = (kind: "sent" | "held", v: number, yy: number) => {
      const bw = w(v);
      const name = kind === "sent" ? "expected" : "billed";
      return `<rect class="bar bar-${kind}" x="${labelW}" y="${yy}" width="${bw.toFixed(2)}" height="${barH}" data-value="${v}"><title>${esc(c.customer)} ${name}: ${esc(fmt(v))}</title></rect>` +
        `<text class="bar-value bar-value-${kind}" x="${(labelW + bw + 6).toFixed(2)}" y="${yy + barH - 4}">${name} ${esc(fmt(v))}</text>`;
    };
    const name = c.customer.length > 22 ? `${c.customer.slice(0, 21)}…` : c.customer;
    return `<g class="bar-group status-${esc(c.status)}" data-customer="${esc(c.customer)}"><title>${esc(c.customer)}</title>` +
      `<text class="bar-label" x="${labelW - 8}" y="${y + barH + gap / 2 + 4}" text-anchor="end">${esc(name)}</text>` +
      bar("sent", c.sent, y) + bar("held", c.held, y + barH + gap) + `</g>`;
  });
  const legend = `<g class="legend"><rect class="bar-sent" x="${labelW}" y="6" width="14" height="14"/><text x="${labelW + 20}" y="18">expected (sent)</text>` +
    `<rect class="bar-held" x="${labelW + 150}" y="6" width="14" height="14"/><text x="${labelW + 170}" y="18">billed (held by biller)</text></g>`;
  return `<svg id="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">` +
    `<title id="chart-title">Expected vs billed per tenant</title>${legend}${groups.join("")}</svg>`;
}

const CSS = `
:root{color-scheme:light;--red:#b42318;--red-bg:#fde8e7;--orange:#b54708;--orange-bg:#fff1e0;--green:#067647;--green-bg:#e6f6ec;--muted:#555;--line:#d0d5dd}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:24px;color:#1d2939;line-height:1.4}
h1{font-size:1.5rem;margin:0 0 12px}h2{font-size:1.15rem;margin:28px 0 8px}
.verdict{padding:14px 18px;border-radius:8px;font-size:1.15rem;font-weight:600;border:2px solid}
.verdict.ok{background:var(--green-bg);border-color:var(--green);color:var(--green)}
.verdict.bad{background:var(--red-bg);border-color:var(--red);color:var(--red)}
.verdict small{display:block;font-weight:400;font-size:.9rem;color:#1d2939;margin-top:4px}
.meta{color:var(--muted);margin:10px 0;padding:0;list-style:none}.meta li{margin:2px 0}
table{border-collapse:collapse;width:100%;margin:6px 0 4px;font-size:.92rem}
caption{text-align:left;color:var(--muted);padding:4px 0;font-size:.85rem}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.row-missing td{background:var(--red-bg)}tr.row-excess td{background:var(--orange-bg)}tr.row-unbillable td{background:#f4ebff}tr.row-late td{background:#fefbe8}tr.row-pending td{background:#f2f4f7}
.badge{font-weight:600;white-space:nowrap}.badge-matched{color:var(--green)}.badge-missing{color:var(--red)}.badge-excess{color:var(--orange)}.badge-unbillable{color:#6941c6}.badge-late{color:#854a0e}.badge-pending{color:var(--muted)}
svg{max-width:100%;height:auto;font-size:12px}svg text{fill:#1d2939}
.bar-sent{fill:#1570ef}.bar-held{fill:#98a2b3}.status-missing .bar-held{fill:var(--red)}.status-excess .bar-held{fill:#f79009}
.bar-label{font-weight:600}
.note{color:var(--muted);font-size:.9rem}
.bar-prompt{fill:#12b76a}.bar-hit{fill:#6ce9a6}
code{font-size:.85rem}
`;

/** One self-contained page (inline CSS and SVG, no script, no network) for finance to read before invoices go out. */
export function renderHtml(r: Report): string {
  const counts = new Map<string, number>();
  for (const x of r.rows) counts.set(x.status, (counts.get(x.status) ?? 0) + 1);
  const differ = r.rows.filter((x) => !CLEAN.has(x.status)).length;
  const pending = counts.get("pending") ?? 0;
  const breakdown = (keys: string[], always: string[] = []) => keys
    .filter((k) => always.includes(k) || (counts.get(k) ?? 0) > 0)
    .map((k) => `${counts.get(k) ?? 0} ${esc(k)}${MEANING[k] ? ` (${esc(MEANING[k])})` : ""}`).join(", ");
  const periodDiffers = r.periodUsage?.filter((p) => p.status === "differs").length ?? 0;
  const others = [...counts.keys()].filter((k) => !CLEAN.has(k) && !(k in MEANING));
  const verdict = r.ok
    ? `<div id="verdict" class="verdict ok" role="status">All matched: ${r.summary.rows} ${r.summary.rows === 1 ? "row" : "rows"}, ${esc(fmt(r.summary.sent))} units delivered and held.` +
      (pending ? `<small>${breakdown(["pending"])}.</small>` : "") + `</div>`
    : `<div id="verdict" class="verdict bad" role="status">${differ} of ${r.summary.rows} rows differ` +
      `<small>${breakdown(["missing", "excess", "unbillable", "late", ...others, "pending"], ["missing", "excess"])}.` +
      (periodDiffers ? ` The biller's own count of the open billing period differs for ${periodDiffers} customer × metric.` : "") + `</small></div>`;
  const out: string[] = [];
  out.push(
    "<!DOCTYPE html>",
    `<html lang="en"><head><meta charset="utf-8">`,
    // Defence in depth: even if something slipped through escaping, the page may load nothing and run nothing.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>Reconciliation — ${esc(r.destination)} — ${esc(r.window.from)} to ${esc(r.window.to)}</title>`,
    `<style>${CSS}</style></head><body><main>`,
    `<h1>Reconciliation — ${esc(r.destination)}</h1>`,
    verdict,
    `<ul class="meta">`,
    `<li>Window compared: <span id="window">${esc(r.window.from)} → ${esc(r.window.to)}</span> (UTC days; asked ${esc(r.requested.from)} → ${esc(r.requested.to)})</li>`,
    `<li>Generated: <span id="generated">${esc(r.generatedAt)}</span></li>`,
    `<li>Totals: ${esc(fmt(r.summary.sent))} sent, ${esc(fmt(r.summary.held))} held by the biller</li>`,
    `<li>Dead-lettered events (never billed, need attention): ${esc(fmt(r.deadLetters.count))}</li>`,
    `</ul>`,
  );

  out.push(`<section aria-labelledby="h-chart"><h2 id="h-chart">Expected vs billed per tenant</h2>`);
  out.push(r.customers.length ? renderChart(r) : `<p class="note">No usage in this window.</p>`, `</section>`);

  const diffs = r.rows.filter((x) => x.status !== "matched");
  if (diffs.length) {
    out.push(`<section aria-labelledby="h-diff"><h2 id="h-diff">Differences</h2>`);
    const reasonOf = (x: object): string => ("reason" in x && typeof x.reason === "string" ? x.reason : "");
    const withReason = diffs.some((x) => reasonOf(x));
    out.push(table("differences", "Rows where the biller does not hold what we sent (missing in red, excess in orange)",
      [{ label: "Customer" }, { label: "Metric" }, { label: "Model" }, { label: "Sent", num: true }, { label: "Held", num: true }, { label: "Difference", num: true }, { label: "Status" }, ...(withReason ? [{ label: "Why" }] : [])],
      diffs.map((x) => `<tr class="row-${esc(x.status)}">${txt(x.customer)}${txt(x.metric)}${txt(x.model)}${num(x.sent)}${num(x.held)}${num(x.difference, signed(x.difference))}<td>${badge(x.status)}</td>${withReason ? txt(reasonOf(x)) : ""}</tr>`)));
    out.push(`</section>`);
  }

  out.push(`<section aria-labelledby="h-cust"><h2 id="h-cust">Per customer</h2>`);
  out.push(table("customers", "Totals per customer across all metrics and models",
    [{ label: "Customer" }, { label: "Sent", num: true }, { label: "Held", num: true }, { label: "Difference", num: true }, { label: "Status" }],
    r.customers.map((c) => `<tr class="row-${esc(c.status)}">${txt(c.customer)}${num(c.sent)}${num(c.held)}${num(c.difference, signed(c.difference))}<td>${badge(c.status)}</td></tr>`)));
  out.push(`</section>`);

  out.push(`<section aria-labelledby="h-detail"><h2 id="h-detail">Detail</h2>`);
  out.push(table("detail", "Every customer × metric × model row",
    [{ label: "Customer" }, { label: "Metric" }, { label: "Model" }, { label: "Sent", num: true }, { label: "Events sent", num: true }, { label: "Held", num: true }, { label: "Events held", num: true }, { label: "Difference", num: true }, { label: "Status" }],
    r.rows.map((x) => `<tr class="row-${esc(x.status)}">${txt(x.customer)}${txt(x.metric)}${txt(x.model)}${num(x.sent)}${num(x.sentEvents)}${num(x.held)}${num(x.heldEvents)}${num(x.difference, signed(x.difference))}<td>${badge(x.status)}</td></tr>`)));
  out.push(`</section>`);

  out.push(...extraSections(r));

  out.push(`<section aria-labelledby="h-dead"><h2 id="h-dead">Dead letters by reason</h2>`);
  if (r.deadLetters.count > 0) {
    out.push(table("dead-letters", "Events the biller refused; they were not billed",
      [{ label: "Reason" }, { label: "Events", num: true }],
      Object.entries(r.deadLetters.byReason).sort((a, b) => b[1] - a[1]).map(([reason, n]) => `<tr>${txt(reason)}${num(n)}</tr>`)));
    out.push(`<p class="note">Inspect them with <code>tracebill dlq list --destination DEST</code>, retry with <code>tracebill dlq retry</code>.</p>`);
  } else {
    out.push(`<p class="note">None in this window.</p>`);
  }
  out.push(`</section>`);

  if (r.syncs?.length) {
    out.push(`<section aria-labelledby="h-syncs"><h2 id="h-syncs">Recent syncs to this destination</h2>`);
    out.push(table("syncs", "Recent syncs",
      [{ label: "Sync" }, { label: "Started" }, { label: "Events", num: true }, { label: "Delivered", num: true }, { label: "Already held", num: true }, { label: "Dead-lettered", num: true }, { label: "Skipped", num: true }, { label: "Quarantined", num: true }, { label: "Waiting for trace", num: true }],
      r.syncs.map((s) => `<tr><td title="${esc(s.syncId)}">${esc(s.syncId.slice(0, 8))}</td>${txt(s.startedAt)}${num(s.events)}${num(s.delivered)}${num(s.already)}${num(s.dead)}${num(s.skipped)}${num(s.quarantined)}${num(s.parked)}</tr>`)));
    out.push(table("sync-inputs", "What each input of each sync gave",
      [{ label: "Sync" }, { label: "Input" }, { label: "Records", num: true }, { label: "Events", num: true }, { label: "Quarantined", num: true }, { label: "Notes" }],
      r.syncs.flatMap((s) => s.inputs.map((i) => `<tr><td title="${esc(s.syncId)}">${esc(s.syncId.slice(0, 8))}</td>${txt(i.input)}${num(i.records)}${num(i.events)}${num(i.quarantined)}${txt(i.notes.join("; "))}</tr>`))));
    out.push(`</section>`);
  }

  out.push(`<p class="note">Statuses: <strong>matched</strong> = biller holds exactly what was delivered; <strong>missing</strong> = biller holds less (revenue at risk); <strong>excess</strong> = biller holds more (customer over-billed); <strong>unbillable</strong> = held but never invoiced; <strong>late</strong> = usage before the open billing period; <strong>pending</strong> = within the ingestion lag, re-run later.</p>`);
  out.push(`</main></body></html>`);
  return out.join("\n") + "\n";
}

/** Stacked bars per customer: tokens not billed because of prompt-cache reads and of cache hits. */
export function renderSavingsChart(rows: { customer: string; promptCacheReadTokens: number; cacheHitTokens: number }[]): string {
  const labelW = 200, barMax = 520, valueW = 200, barH = 18, gap = 10, top = 34;
  const width = labelW + barMax + valueW;
  const height = top + rows.length * (barH + gap) + 4;
  const max = Math.max(0, ...rows.map((c) => c.promptCacheReadTokens + c.cacheHitTokens));
  const w = (v: number) => (max > 0 ? Math.max(0, (v / max) * barMax) : 0);
  const groups = rows.map((c, i) => {
    const y = top + i * (barH + gap);
    const a = w(c.promptCacheReadTokens), b = w(c.cacheHitTokens);
    const name = c.customer || "(no customer)";
    const total = c.promptCacheReadTokens + c.cacheHitTokens;
    return `<g class="savings-group" data-customer="${esc(c.customer)}" data-total="${total}"><title>${esc(name)}: ${esc(fmt(total))} tokens not billed</title>` +
      `<text class="bar-label" x="${labelW - 8}" y="${y + barH - 4}" text-anchor="end">${esc(name.length > 22 ? `${name.slice(0, 21)}…` : name)}</text>` +
      `<rect class="bar-prompt" x="${labelW}" y="${y}" width="${a.toFixed(2)}" height="${barH}" data-value="${c.promptCacheReadTokens}"/>` +
      `<rect class="bar-hit" x="${(labelW + a).toFixed(2)}" y="${y}" width="${b.toFixed(2)}" height="${barH}" data-value="${c.cacheHitTokens}"/>` +
      `<text class="bar-value" x="${(labelW + a + b + 6).toFixed(2)}" y="${y + barH - 4}">${esc(fmt(total))}</text></g>`;
  });
  const legend = `<g class="legend"><rect class="bar-prompt" x="${labelW}" y="6" width="14" height="14"/><text x="${labelW + 20}" y="18">prompt-cache reads</text>` +
    `<rect class="bar-hit" x="${labelW + 170}" y="6" width="14" height="14"/><text x="${labelW + 190}" y="18">cache hits (model did not run)</text></g>`;
  return `<svg id="savings-chart" role="img" aria-labelledby="savings-title" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">` +
    `<title id="savings-title">Tokens not billed because of caching, per tenant</title>${legend}${groups.join("")}</svg>`;
}

function extraSections(r: Report): string[] {
  const out: string[] = [];
  if (r.periodUsage?.length) {
    out.push(`<section aria-labelledby="h-period"><h2 id="h-period">Open billing period (as the biller counts it)</h2>`);
    out.push(table("period-usage", "The biller's own usage count for the open period vs what the ledger recorded over the same days",
      [{ label: "Customer" }, { label: "Metric" }, { label: "Period" }, { label: "Sent", num: true }, { label: "Counted by biller", num: true }, { label: "Difference", num: true }, { label: "Events sent", num: true }, { label: "Events counted", num: true }, { label: "Status" }],
      r.periodUsage.map((p) => {
        const cls = p.status === "differs" ? "missing" : p.status;
        return `<tr class="row-${esc(cls)}">${txt(p.customer)}${txt(p.metric)}${txt(`${p.from.slice(0, 10)} → ${p.to.slice(0, 10)}`)}${num(p.sent)}${num(p.counted)}${num(p.difference, signed(p.difference))}${num(p.sentEvents)}${num(p.countedEvents)}<td><span class="badge badge-${esc(cls)}">${esc(p.status)}</span></td></tr>`;
      })));
    out.push(`</section>`);
  }
  if (r.eventChecks?.length) {
    out.push(`<section aria-labelledby="h-checks"><h2 id="h-checks">Event checks (differing rows, by id)</h2>`);
    out.push(table("event-checks", "Each differing row's events, re-mapped from the inputs, looked up at the destination by id",
      [{ label: "Customer" }, { label: "Metric" }, { label: "Model" }, { label: "Status" }, { label: "Events in inputs", num: true }, { label: "Held by biller", num: true }, { label: "Not held", num: true }, { label: "First ids not held" }],
      r.eventChecks.map((c) => `<tr class="row-${esc(c.status)}">${txt(c.customer)}${txt(c.metric)}${txt(c.model)}<td>${badge(c.status)}</td>${num(c.events)}${num(c.held)}${num(c.absentCount)}<td>${c.absent.slice(0, 5).map((id) => `<code>${esc(id)}</code>`).join(" ") || "—"}</td></tr>`)));
    out.push(`<p class="note">Explain any id with <code>tracebill explain ID --inputs …</code>: its source run/observation, mapping version and delivery status.</p></section>`);
  }
  const x = r.exclusions;
  if (x) {
    const t = exclusionTotals(x);
    out.push(`<section aria-labelledby="h-excluded"><h2 id="h-excluded">Not billed, and why</h2>`);
    out.push(`<p class="note" id="excluded-basis">From ${esc(x.basis)}: ${esc(fmt(x.records))} records read, ${esc(fmt(x.billed))} billed.</p>`);
    out.push(`<h3 id="h-savings">Cache savings</h3><p id="savings-total">${esc(fmt(t.promptCacheReadTokens + t.cacheHitTokens))} tokens not billed because of caching: ${esc(fmt(t.promptCacheReadTokens))} provider prompt-cache reads inside billed calls, and ${esc(fmt(t.cacheHits))} calls answered from an LLM/semantic cache (${esc(fmt(t.cacheHitTokens))} tokens).</p>`);
    const cached = x.customers.filter((c) => c.promptCacheReadTokens || c.cacheHits);
    if (cached.length) {
      out.push(renderSavingsChart(cached));
      out.push(table("cache-savings", "Tokens not billed because of caching, per customer",
        [{ label: "Customer" }, { label: "Prompt-cache reads not billed", num: true }, { label: "Cache hits (calls)", num: true }, { label: "Cache-hit tokens not billed", num: true }, { label: "Total not billed", num: true }],
        cached.map((c) => `<tr>${txt(c.customer || "(no customer)")}${num(c.promptCacheReadTokens)}${num(c.cacheHits)}${num(c.cacheHitTokens)}${num(c.promptCacheReadTokens + c.cacheHitTokens)}</tr>`)));
    }
    out.push(`<h3 id="h-failed">Failed calls excluded</h3><p id="failed-total">${esc(fmt(t.failed))} failed model calls were not billed${t.failedTokens ? ` (${esc(fmt(t.failedTokens))} tokens reported)` : ""}.</p>`);
    const failed = x.customers.filter((c) => c.failed);
    if (failed.length) {
      out.push(table("failed-calls", "Failed calls per customer (never billed)", [{ label: "Customer" }, { label: "Failed calls", num: true }, { label: "Tokens reported", num: true }],
        failed.map((c) => `<tr>${txt(c.customer || "(no customer)")}${num(c.failed)}${num(c.failedTokens)}</tr>`)));
      out.push(table("failed-reasons", "Most frequent errors", [{ label: "Error" }, { label: "Calls", num: true }], x.failedReasons.map((f) => `<tr>${txt(f.reason)}${num(f.calls)}</tr>`)));
    }
    out.push(`<h3 id="h-unattributed">Unattributed</h3><p id="unattributed-total">${esc(fmt(x.unattributed.calls))} successful model calls named no customer (${esc(fmt(x.unattributed.tokens))} tokens): not billed to a guess.` +
      (x.unattributed.samples.length ? ` First: ${x.unattributed.samples.slice(0, 5).map((id) => `<code>${esc(id)}</code>`).join(" ")}.` : "") + `</p>`);
    out.push(`<h3 id="h-quarantined">Quarantined</h3><p id="quarantined-total">${esc(fmt(x.quarantined.count))} records could not be read or normalized; good records around them were billed.</p>`);
    if (x.quarantined.count) {
      out.push(table("quarantined", "Quarantined records (first ones, with their position)", [{ label: "Input" }, { label: "Position" }, { label: "Reason" }],
        x.quarantined.samples.slice(0, 20).map((q) => `<tr>${txt(q.input)}${txt(q.position)}${txt(q.reason)}</tr>`)));
    }
    out.push(`</section>`);
  }
  const a = r.allocation;
  if (a) {
    out.push(`<section aria-labelledby="h-allocation"><h2 id="h-allocation">Allocation back-test</h2>`);
    out.push(`<p class="note">If unattributed usage were allocated with the <code>${esc(a.model)}</code> model (${esc(a.config)}) instead of left unbilled: ` +
      a.unattributed.map((u) => `${esc(u.metric)}: ${esc(fmt(u.total))} unattributed, ${esc(fmt(u.allocated))} allocated, ${esc(fmt(u.unallocated))} not`).join("; ") + `.</p>`);
    out.push(table("allocation", "Per tenant: billed today vs with allocation",
      [{ label: "Tenant" }, { label: "Metric" }, { label: "Billed today", num: true }, { label: "With allocation", num: true }, { label: "Difference", num: true }, { label: "Share of unattributed", num: true }],
      a.rows.map((row) => `<tr>${txt(row.tenant)}${txt(row.metric)}${num(row.direct)}${num(row.allocated)}${num(row.difference, signed(row.difference))}${num(null, `${(row.share * 100).toFixed(1)}%`)}</tr>`)));
    out.push(`</section>`);
  }
  return out;
}
