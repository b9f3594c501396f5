import { describe, expect, it } from "vitest";
import { reconcile, type ReportInput } from "../../src/reconcile/reconcile.js";
import { csvField, renderCsv } from "../../src/reconcile/report/csv.js";

const base: Omit<ReportInput, "sent" | "held"> = {
  destination: "openmeter",
  requested: { from: "2026-11-20T00:00:00.000Z", to: "2026-11-26T00:00:00.000Z" },
  window: { from: "2026-11-20T00:00:00.000Z", to: "2026-11-26T00:00:00.000Z" },
  deadLetters: { count: 0, byReason: {} },
  generatedAt: "2026-11-27T00:00:00.000Z",
};

describe("renderCsv", () => {
  it("writes one header row and one RFC 4180 row per customer × metric × model", () => {
    const r = reconcile({
      ...base,
      sent: [
        { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 1000, events: 2 },
        { customer: 'Globex, "Intl"', metric: "llm_tokens", model: "claude", value: 1234567, events: 3 },
        { customer: "initech", metric: "cost_usd", model: "gpt-4o\nmini", value: 0.25, events: 1 },
      ],
      held: [
        { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 900, events: -1 },
        { customer: 'Globex, "Intl"', metric: "llm_tokens", model: "claude", value: 1234567, events: 3 },
        { customer: "umbrella", metric: "llm_tokens", model: "gpt-4o", value: 5, events: 1 },
      ],
    });
    expect(renderCsv(r)).toBe(
      [
        "customer,metric,model,sent,sent_events,held,held_events,difference,status",
        "acme,llm_tokens,gpt-4o,1000,2,900,,-100,missing",
        '"Globex, ""Intl""",llm_tokens,claude,1234567,3,1234567,3,0,matched',
        'initech,cost_usd,"gpt-4o\nmini",0.25,1,0,0,-0.25,missing',
        "umbrella,llm_tokens,gpt-4o,0,0,5,1,5,excess",
        "",
      ].join("\r\n"),
    );
  });

  it("writes only the header for an empty report", () => {
    expect(renderCsv(reconcile({ ...base, sent: [], held: [] }))).toBe("customer,metric,model,sent,sent_events,held,held_events,difference,status\r\n");
  });

  it("quotes only what needs quoting", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("line\r\nbreak")).toBe('"line\r\nbreak"');
    expect(csvField(null)).toBe("");
    expect(csvField(-0.5)).toBe("-0.5");
  });
});
