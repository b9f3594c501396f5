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
