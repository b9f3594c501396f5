import { describe, expect, it } from "vitest";
import { reconcile, type ReportInput } from "../../src/reconcile/reconcile.js";
import { esc, renderHtml } from "../../src/reconcile/report/html.js";

const base: Omit<ReportInput, "sent" | "held"> = {
  destination: "lago",
  requested: { from: "2026-11-20T05:00:00.000Z", to: "2026-11-25T12:00:00.000Z" },
  window: { from: "2026-11-20T00:00:00.000Z", to: "2026-11-26T00:00:00.000Z" },
  deadLetters: { count: 0, byReason: {} },
  generatedAt: "2026-11-27T08:30:00.000Z",
};

const evil = `<script>alert("x")</script>`;

function sample() {
  return reconcile({
    ...base,
    sent: [
      { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 1_250_000, events: 40 },
      { customer: "globex", metric: "llm_tokens", model: "claude", value: 500, events: 1 },
      { customer: evil, metric: "llm_tokens", model: "gpt-4o", value: 77, events: 1 },
    ],
    held: [
      { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 1_200_000, events: 38 },
      { customer: "globex", metric: "llm_tokens", model: "claude", value: 1000, events: 2 },
      { customer: evil, metric: "llm_tokens", model: "gpt-4o", value: 77, events: -1 },
    ],
    deadLetters: { count: 3, byReason: { "customer <b>acme</b> has no active subscription": 3 } },
    syncs: [{
      syncId: "0123456789abcdef", startedAt: "2026-11-26T23:00:00.000Z", events: 42, delivered: 39, already: 0, dead: 3, skipped: 0, quarantined: 2, parked: 1,
      inputs: [{ input: "exports/langsmith & co.jsonl", records: 44, events: 42, quarantined: 2, notes: ["2 runs without usage", "see https://example.com"] }],
    }],
  });
}

describe("renderHtml", () => {
  it("escapes user data everywhere, including a <script> in a customer id", () => {
    const html = renderHtml(sample());
    expect(html).not.toContain("<script");
    expect(html).not.toContain(evil);
    expect(html).toContain(esc(evil));
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(html).toContain(`data-customer="${esc(evil)}"`);
    expect(html).toContain("customer &lt;b&gt;acme&lt;/b&gt; has no active subscription");
    expect(html).toContain("exports/langsmith &amp; co.jsonl");
  });

  it("is one self-contained, accessible page with the verdict, window and numbers", () => {
    const r = sample();
    const html = renderHtml(r);
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).toContain('<html lang="en">');
    expect(html).toMatch(/<title>Reconciliation — lago — [^<]+<\/title>/);
    expect(html).toContain("2 of 3 rows differ");
    expect(html).toContain("1 missing");
    expect(html).toContain("1 excess");
    expect(html).toContain("2026-11-20T00:00:00.000Z → 2026-11-26T00:00:00.000Z");
    expect(html).toContain("2026-11-27T08:30:00.000Z");
    // Differences: missing row red, excess row orange, with signed differences.
    expect(html).toMatch(/<tr class="row-missing"><td>acme<\/td><td>llm_tokens<\/td><td>gpt-4o<\/td><td class="num">1,250,000<\/td><td class="num">1,200,000<\/td><td class="num">-50,000<\/td>/);
    expect(html).toMatch(/<tr class="row-excess"><td>globex<\/td><td>llm_tokens<\/td><td>claude<\/td><td class="num">500<\/td><td class="num">1,000<\/td><td class="num">\+500<\/td>/);
    expect(html).toMatch(/tr\.row-missing td\{background:var\(--red-bg\)\}/);
    // Detail shows n/a for events the biller cannot count.
    expect(html).toContain('<td class="num">77</td><td class="num">1</td><td class="num">77</td><td class="num">n/a</td>');
    // Chart: one group per customer with labelled numbers.
    expect(html).toContain('<svg id="chart" role="img"');
    expect(html.match(/class="bar-group /g)).toHaveLength(3);
    expect(html).toContain(">expected 1,250,000</text>");
    expect(html).toContain(">billed 1,200,000</text>");
    // Tables have header cells; dead letters and syncs are present.
    expect(html.match(/<th scope="col"/g)?.length).toBeGreaterThan(20);
    for (const id of ["differences", "customers", "detail", "dead-letters", "syncs", "sync-inputs"]) expect(html).toContain(`<table id="${id}">`);
    expect(html).toContain('<td title="0123456789abcdef">01234567</td><td>2026-11-26T23:00:00.000Z</td><td class="num">42</td>');
    expect(html).toContain("2 runs without usage; see");
  });

  it("references nothing on the network: no http(s) URL, no script, no external resource", () => {
    const r = sample();
    // The sample's sync note carries a URL as user data; strip notes to check our own markup.
    const html = renderHtml({ ...r, syncs: r.syncs?.map((s) => ({ ...s, inputs: s.inputs.map((i) => ({ ...i, notes: [] })) })) });
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/\b(src|href)=/i);
    expect(html).not.toMatch(/url\(|@import/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });

  it("shows an all-matched verdict and omits differences and syncs when there are none", () => {
    const t = [{ customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 1200, events: 3 }];
    const html = renderHtml(reconcile({ ...base, sent: t, held: t }));
    expect(html).toContain('class="verdict ok"');
    expect(html).toContain("All matched: 1 row, 1,200 units delivered and held.");
    expect(html).not.toContain('<table id="differences">');
    expect(html).not.toContain('<table id="syncs">');
    expect(html).not.toMatch(/https?:\/\//i);
  });

  it("renders an empty window without dividing by zero", () => {
    const html = renderHtml(reconcile({ ...base, sent: [], held: [] }));
    expect(html).toContain("All matched: 0 rows");
    expect(html).toContain("No usage in this window.");
    expect(html).not.toContain("NaN");
  });

  it("shows unbillable and pending rows with their reason, and counts only real differences in the verdict", () => {
    const html = renderHtml(reconcile({
      ...base,
      sent: [
        { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 100, events: 1 },
        { customer: "globex", metric: "llm_tokens", model: "gpt-4o", value: 100, events: 1 },
      ],
      held: [
        { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 100, events: 1 },
        { customer: "globex", metric: "llm_tokens", model: "gpt-4o", value: 60, events: 1 },
      ],
      unbillable: [{ customer: "acme", reason: "no <active> subscription" }],
      recent: [{ customer: "globex", metric: "llm_tokens", model: "gpt-4o", value: 50, events: 1 }],
      pendingMinutes: 10,
    }));
    expect(html).toContain("1 of 2 rows differ");
    expect(html).toContain("1 unbillable (held but will never be invoiced)");
    expect(html).toContain("1 pending (within the ingestion lag: re-run later)");
    expect(html).toContain('<tr class="row-unbillable">');
    expect(html).toContain('<th scope="col">Why</th>');
    expect(html).toContain("<td>no &lt;active&gt; subscription</td>");
  });
});
