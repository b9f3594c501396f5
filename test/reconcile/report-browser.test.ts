import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reconcile, type Report } from "../../src/reconcile/reconcile.js";
import { fmt } from "../../src/reconcile/report/html.js";
import { writeReport } from "../../src/reconcile/run.js";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = fileURLToPath(new URL("../../tmp/report-screenshot.png", import.meta.url));
const signed = (n: number) => (n > 0 ? `+${fmt(n)}` : fmt(n));

/** Customer ids are user data: one tries to run script, one tries to load an image (a file: request if it were markup). */
const EVIL_SCRIPT = `<script>document.title="pwned"</script>`;
const EVIL_IMG = `<img src="x-tracker.png">`;

function sampleReport(): Report {
  return reconcile({
    destination: "lago",
    requested: { from: "2026-11-20T05:00:00.000Z", to: "2026-11-25T12:00:00.000Z" },
    window: { from: "2026-11-20T00:00:00.000Z", to: "2026-11-26T00:00:00.000Z" },
    generatedAt: "2026-11-27T08:30:00.000Z",
    sent: [
      { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 1_250_000, events: 40 },
      { customer: "acme", metric: "llm_tokens", model: "gpt-4o-mini", value: 300_000, events: 12 },
      { customer: "globex", metric: "llm_tokens", model: "claude", value: 640_000, events: 20 },
      { customer: "initech", metric: "llm_tokens", model: "gpt-4o", value: 90_000, events: 5 },
      { customer: EVIL_SCRIPT, metric: "llm_tokens", model: "gpt-4o", value: 4_200, events: 1 },
      { customer: EVIL_IMG, metric: "llm_tokens", model: "gpt-4o", value: 10, events: 1 },
    ],
    held: [
      { customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 1_200_000, events: 38 },
      { customer: "acme", metric: "llm_tokens", model: "gpt-4o-mini", value: 300_000, events: 12 },
      { customer: "globex", metric: "llm_tokens", model: "claude", value: 700_000, events: 22 },
      { customer: "initech", metric: "llm_tokens", model: "gpt-4o", value: 90_000, events: 5 },
      { customer: EVIL_SCRIPT, metric: "llm_tokens", model: "gpt-4o", value: 4_200, events: 1 },
      { customer: EVIL_IMG, metric: "llm_tokens", model: "gpt-4o", value: 10, events: 1 },
    ],
    deadLetters: { count: 3, byReason: { "customer acme has no active subscription": 2, "invalid metric code": 1 } },
    syncs: [{
      syncId: "0123456789abcdef", startedAt: "2026-11-26T23:00:00.000Z", events: 80, delivered: 77, already: 0, dead: 3, skipped: 0, quarantined: 2, parked: 1,
      inputs: [{ input: "exports/langsmith.jsonl", records: 82, events: 80, quarantined: 2, notes: ["2 runs without usage"] }],
    }],
    exclusions: {
      basis: "the 1 input given, usage within the window", records: 120, billed: 80,
      customers: [
        { customer: "acme", promptCacheReadTokens: 52_000, cacheHits: 3, cacheHitTokens: 9_000, failed: 2, failedTokens: 1_500 },
        { customer: "globex", promptCacheReadTokens: 0, cacheHits: 1, cacheHitTokens: 400, failed: 0, failedTokens: 0 },
        { customer: EVIL_IMG, promptCacheReadTokens: 10, cacheHits: 0, cacheHitTokens: 0, failed: 1, failedTokens: 0 },
      ],
      failedReasons: [{ reason: "RateLimitError: 429", calls: 2 }, { reason: EVIL_SCRIPT, calls: 1 }],
      unattributed: { calls: 4, tokens: 580, samples: ["run-a", "run-b"] },
      quarantined: { count: 2, byReason: { "invalid JSON": 2 }, samples: [{ input: "exports/langsmith.jsonl", position: "line 21", reason: "invalid JSON" }, { input: "exports/langsmith.jsonl", position: "line 40", reason: "invalid JSON" }] },
      skipped: {},
    },
    periodUsage: [
      { customer: "acme", metric: "llm_tokens", from: "2026-11-01T00:00:00.000Z", to: "2026-11-30T23:59:59.000Z", ledgerDays: { from: "2026-11-01T00:00:00.000Z", to: "2026-12-01T00:00:00.000Z" }, sent: 1_550_000, sentEvents: 52, counted: 1_500_000, countedEvents: 50, charges: 1, recent: 0 },
      { customer: "initech", metric: "llm_tokens", from: "2026-11-01T00:00:00.000Z", to: "2026-11-30T23:59:59.000Z", ledgerDays: { from: "2026-11-01T00:00:00.000Z", to: "2026-12-01T00:00:00.000Z" }, sent: 90_000, sentEvents: 5, counted: 90_000, countedEvents: 5, charges: 1, recent: 0 },
    ],
    eventChecks: [{ customer: "acme", metric: "llm_tokens", model: "gpt-4o", status: "missing", events: 40, held: 38, absent: ["ev-1", "ev-2"], absentCount: 2, sample: ["ev-1"] }],
    allocation: { model: "activity", config: "attribution@1", unattributed: [{ metric: "llm_tokens", total: 580, allocated: 580, unallocated: 0 }], rows: [{ tenant: "acme", metric: "llm_tokens", direct: 1000, allocated: 1365, difference: 365, share: 0.629 }] },
  });
}

describe("report.html in a real browser", () => {
  let browser: Browser | undefined;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tracebill-report-"));
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("shows the verdict, per-customer numbers and chart values from the report, offline, and saves a screenshot", async () => {
    // Never skip: CI must provide Debian's chromium; a missing browser fails this test, it does not pass or skip it.
    expect(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the report browser test`).toBe(true);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const report = sampleReport();
    const paths = await writeReport(report, dir);
    expect(paths.html).toBe(join(dir, "report.html"));
    expect(paths.csv).toBe(join(dir, "report.csv"));
    expect((await readFile(paths.csv, "utf8")).split("\r\n")[0]).toBe("customer,metric,model,sent,sent_events,held,held_events,difference,status");

    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    const dialogs: string[] = [];
    page.on("request", (req) => requests.push(req.url()));
    page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
    const url = pathToFileURL(paths.html).href;
    await page.goto(url, { waitUntil: "load" });

    // Verdict banner and metadata.
    expect(report.ok).toBe(false);
    const differ = report.rows.filter((x) => x.status !== "matched" && x.status !== "pending").length;
    const verdict = (await page.locator("#verdict").textContent()) ?? "";
    expect(verdict).toContain(`${differ} of ${report.summary.rows} rows differ`);
    expect(verdict).toContain(`${report.summary.missing} missing`);
    expect(verdict).toContain(`${report.summary.excess} excess`);
    expect(await page.locator("#window").textContent()).toBe(`${report.window.from} → ${report.window.to}`);
    expect(await page.locator("#generated").textContent()).toBe(report.generatedAt);
    expect(await page.title()).toContain("Reconciliation — lago");
    expect(await page.getAttribute("html", "lang")).toBe("en");

    // Per-customer table: every cell as the report says, user data shown as text.
    expect(await page.locator("#customers thead th").allTextContents()).toEqual(["Customer", "Sent", "Held", "Difference", "Status"]);
    const rows = page.locator("#customers tbody tr");
    expect(await rows.count()).toBe(report.customers.length);
    for (const [i, c] of report.customers.entries()) {
      expect(await rows.nth(i).locator("td").allTextContents()).toEqual([c.customer, fmt(c.sent), fmt(c.held), signed(c.difference), c.status]);
    }

    // Differences table highlights: missing rows red, excess rows orange.
    const diffRows = report.rows.filter((x) => x.status !== "matched");
    expect(await page.locator("#differences tbody tr").count()).toBe(diffRows.length);
    // The test tsconfig has no DOM lib; reach the browser's getComputedStyle through globalThis.
    type Styles = { getComputedStyle(el: unknown): { backgroundColor: string } };
    const bg = async (sel: string) => page.locator(sel).first().evaluate((el) => (globalThis as unknown as Styles).getComputedStyle(el).backgroundColor);
    expect(await bg("#differences tr.row-missing td")).toBe("rgb(253, 232, 231)");
    expect(await bg("#differences tr.row-excess td")).toBe("rgb(255, 241, 224)");

    // Chart: one group per customer, bars labelled with the report's numbers, bar lengths proportional.
    const groups = page.locator("#chart g.bar-group");
    expect(await groups.count()).toBe(report.customers.length);
    const max = Math.max(...report.customers.flatMap((c) => [c.sent, c.held]));
    for (const [i, c] of report.customers.entries()) {
      const g = groups.nth(i);
      expect(await g.getAttribute("data-customer")).toBe(c.customer);
      const label = (await g.locator("text.bar-label").textContent()) ?? "";
      expect(c.customer.startsWith(label.replace(/…$/, ""))).toBe(true);
      expect(await g.locator("text.bar-value-sent").textContent()).toBe(`expected ${fmt(c.sent)}`);
      expect(await g.locator("text.bar-value-held").textContent()).toBe(`billed ${fmt(c.held)}`);
      expect(Number(await g.locator("rect.bar-sent").getAttribute("data-value"))).toBe(c.sent);
      expect(Number(await g.locator("rect.bar-held").getAttribute("data-value"))).toBe(c.held);
      const width = Number(await g.locator("rect.bar-held").getAttribute("width"));
      expect(width).toBeCloseTo((c.held / max) * 520, 1); // barMax in html.ts;
    }
    expect(await page.locator("#chart").isVisible()).toBe(true);

    // Dead letters and syncs sections.
    expect(await page.locator("#dead-letters tbody tr").count()).toBe(Object.keys(report.deadLetters.byReason).length);
    expect(await page.locator("#sync-inputs tbody tr td").allTextContents()).toEqual(["01234567", "exports/langsmith.jsonl", "82", "80", "2", "2 runs without usage"]);

    // What was not billed: savings chart and tables carry the report's figures.
    const x = report.exclusions!;
    const cached = x.customers.filter((c) => c.promptCacheReadTokens || c.cacheHits);
    const bars = page.locator("#savings-chart g.savings-group");
    expect(await bars.count()).toBe(cached.length);
    for (const [i, c] of cached.entries()) {
      expect(await bars.nth(i).getAttribute("data-customer")).toBe(c.customer);
      expect(await bars.nth(i).locator("text.bar-value").textContent()).toBe(fmt(c.promptCacheReadTokens + c.cacheHitTokens));
    }
    expect(await page.locator("#savings-chart").isVisible()).toBe(true);
    expect(await page.locator("#savings-total").textContent()).toContain(`${fmt(61_410)} tokens not billed because of caching`);
    expect(await page.locator("#cache-savings tbody tr").first().locator("td").allTextContents()).toEqual(["acme", "52,000", "3", "9,000", "61,000"]);
    expect(await page.locator("#failed-total").textContent()).toContain("3 failed model calls were not billed (1,500 tokens reported)");
    expect(await page.locator("#failed-reasons tbody tr").count()).toBe(2);
    expect(await page.locator("#unattributed-total").textContent()).toContain("4 successful model calls named no customer (580 tokens)");
    expect(await page.locator("#quarantined tbody tr").nth(1).locator("td").allTextContents()).toEqual(["exports/langsmith.jsonl", "line 40", "invalid JSON"]);
    // The biller's own period count: the short one highlighted like a missing row.
    expect(await page.locator("#period-usage tbody tr").count()).toBe(2);
    expect(await page.locator("#period-usage tbody tr.row-missing td").nth(5).textContent()).toBe("-50,000");
    expect(await bg("#period-usage tr.row-missing td")).toBe("rgb(253, 232, 231)");
    expect(verdict).toContain("open billing period differs for 1 customer × metric");
    expect(await page.locator("#event-checks tbody tr td code").allTextContents()).toEqual(["ev-1", "ev-2"]);
    expect(await page.locator("#allocation tbody tr td").allTextContents()).toEqual(["acme", "llm_tokens", "1,000", "1,365", "+365", "62.9%"]);

    // Hostile customer ids stayed text: no script ran, no element was created, nothing was fetched.
    expect(await page.locator("script, img").count()).toBe(0);
    expect(await page.title()).not.toContain("pwned");
    expect(dialogs).toEqual([]);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((u) => !u.startsWith("file:"))).toEqual([]);
    expect(requests).toEqual([url]);

    await mkdir(join(SCREENSHOT, ".."), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    await page.close();
  });
});
