import { describe, expect, it } from "vitest";
import { reconcile, sameQuantity, type ReportInput } from "../../src/reconcile/reconcile.js";
import { renderJson } from "../../src/reconcile/report/json.js";
import { renderMarkdown } from "../../src/reconcile/report/markdown.js";

const base: Omit<ReportInput, "sent" | "held"> = {
  destination: "lago",
  requested: { from: "2026-11-20T00:00:00.000Z", to: "2026-11-26T00:00:00.000Z" },
  window: { from: "2026-11-20T00:00:00.000Z", to: "2026-11-26T00:00:00.000Z" },
  deadLetters: { count: 0, byReason: {} },
  generatedAt: "2026-11-27T00:00:00.000Z",
};

describe("reconcile", () => {
  it("matches identical totals", () => {
    const t = [{ customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 1200, events: 3 }];
    const r = reconcile({ ...base, sent: t, held: t });
    expect(r.ok).toBe(true);
    expect(r.summary).toEqual({ rows: 1, matched: 1, missing: 0, excess: 0, sent: 1200, held: 1200 });
  });

  it("classifies missing, excess and rows only one side has", () => {
    const r = reconcile({
      ...base,
      sent: [
        { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 1000, events: 2 },
        { customer: "globex", metric: "llm_tokens", model: "claude", value: 500, events: 1 },
        { customer: "initech", metric: "llm_tokens", model: "gpt-4o", value: 10, events: 1 },
      ],
      held: [
        { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 900, events: 1 },
        { customer: "globex", metric: "llm_tokens", model: "claude", value: 1000, events: 2 },
        { customer: "umbrella", metric: "llm_tokens", model: "gpt-4o", value: 5, events: 1 },
      ],
    });
    const st = Object.fromEntries(r.rows.map((x) => [x.customer, [x.status, x.difference]]));
    expect(st).toEqual({ acme: ["missing", -100], globex: ["excess", 500], initech: ["missing", -10], umbrella: ["excess", 5] });
    expect(r.ok).toBe(false);
    expect(r.summary.missing).toBe(2);
    expect(r.summary.excess).toBe(2);
    expect(r.customers.find((c) => c.customer === "acme")?.status).toBe("missing");
  });

  it("tolerates float noise but not a real difference", () => {
    expect(sameQuantity(0.1 + 0.2, 0.3)).toBe(true);
    expect(sameQuantity(1_000_000, 1_000_001)).toBe(false);
  });

  it("renders a readable markdown verdict and a parseable json twin", () => {
    const r = reconcile({
      ...base,
      sent: [{ customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 1000, events: 2 }],
      held: [{ customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 2000, events: 4 }],
      deadLetters: { count: 3, byReason: { "customer acme has no active subscription": 3 } },
    });
    const md = renderMarkdown(r);
    expect(md).toContain("1 of 1 rows differ");
    expect(md).toContain("| acme | llm_tokens | gpt-4o | 1,000 | 2,000 | +1,000 | ⚠️ excess |");
    expect(md).toContain("customer acme has no active subscription");
    const json = JSON.parse(renderJson(r));
    expect(json.schema_version).toBe(1);
    expect(json.rows[0].difference).toBe(1000);
    expect(json.ok).toBe(false);
  });
});
