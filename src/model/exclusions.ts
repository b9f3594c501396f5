import type { BillableEvent, Quarantined } from "./billable-event.js";
import type { TraceRecord } from "./trace-record.js";

/**
 * What the inputs held that was NOT billed, and why: the other half of a reconciliation report.
 * Finance asks "what did the cache save them?", "which calls failed?", "whose usage has no
 * tenant?" before invoices go out. JSON-safe (it travels in job checkpoints and report.json).
 */
export interface Exclusions {
  /** Where the figures come from, e.g. "inputs (3 files)" or "3 syncs since 2026-11-20". */
  basis: string;
  /** Records read (model calls and the chains around them). */
  records: number;
  /** Records that produced at least one billable event. */
  billed: number;
  /** Per customer (`""` = no customer could be named). Sorted by customer. */
  customers: CustomerExclusions[];
  /** Failed model calls per error message (first line, at most 120 characters), most frequent first, at most 20. */
  failedReasons: { reason: string; calls: number }[];
  /** Successful model calls no customer could be named for (not billed to a guess). */
  unattributed: { calls: number; tokens: number; samples: string[] };
  quarantined: { count: number; byReason: Record<string, number>; samples: Quarantined[] };
  /** Every skip by its reason (one per mapping that skipped a record). */
  skipped: Record<string, number>;
}

export interface CustomerExclusions {
  customer: string;
  /** Provider prompt-cache reads inside billed calls: part of the reported input, not billed. */
  promptCacheReadTokens: number;
  /** Calls answered from an LLM/semantic cache (the model did not run), and their reported tokens. */
  cacheHits: number;
  cacheHitTokens: number;
  /** Failed calls (never billed) and the tokens they reported, if any. */
  failed: number;
  failedTokens: number;
}

const MAX_SAMPLES = 20;
const MAX_REASONS = 20;

export function emptyExclusions(basis = ""): Exclusions {
  return { basis, records: 0, billed: 0, customers: [], failedReasons: [], unattributed: { calls: 0, tokens: 0, samples: [] }, quarantined: { count: 0, byReason: {}, samples: [] }, skipped: {} };
}

/** Reported tokens of a call: input (inclusive of cache reads/writes) plus output. */
const tokensOf = (r: TraceRecord) => (r.usage ? r.usage.input + r.usage.output : 0);

function customerRow(x: Exclusions, customer: string): CustomerExclusions {
  let row = x.customers.find((c) => c.customer === customer);
  if (!row) {
    row = { customer, promptCacheReadTokens: 0, cacheHits: 0, cacheHitTokens: 0, failed: 0, failedTokens: 0 };
    x.customers.push(row);
    x.customers.sort((a, b) => a.customer.localeCompare(b.customer));
  }
  return row;
}

function reasonOf(error: string | null): string {
  const line = (error ?? "").split("\n")[0]!.trim();
  return line ? (line.length > 120 ? `${line.slice(0, 119)}…` : line) : "(no error message)";
}

/**
 * Adds one record and what the mappings made of it. `payer` says who the record would bill (for
 * failed calls and cache hits; asked only for those, since naming the customer evaluates the
 * mapping); a billed call's cache reads go to its events' customers pro-rata.
 */
export function addRecord(x: Exclusions, r: TraceRecord, events: readonly BillableEvent[], skips: readonly { reason: string; code?: string }[], payer: () => string | undefined = () => undefined): void {
  x.records++;
  for (const s of skips) x.skipped[s.reason] = (x.skipped[s.reason] ?? 0) + 1;
  if (events.length > 0) {
    x.billed++;
    const cacheRead = r.usage?.cacheRead ?? 0;
    if (cacheRead > 0) {
      // One metric's events say who pays how much of the call (a split call has several payers).
      const metric = events[0]!.metric;
      const weights = new Map<string, number>();
      for (const e of events) if (e.metric === metric) weights.set(e.customer, (weights.get(e.customer) ?? 0) + e.value);
      const total = [...weights.values()].reduce((a, b) => a + b, 0);
      const entries = [...weights.entries()];
      let left = cacheRead;
      entries.forEach(([customer, w], i) => {
        const share = i === entries.length - 1 ? left : total > 0 ? Math.round((cacheRead * w) / total) : 0;
        left -= share;
        customerRow(x, customer).promptCacheReadTokens += share;
      });
    }
    return;
  }
  if (!r.isModelCall) return;
  if (r.status === "error") {
    const row = customerRow(x, payer() ?? "");
    row.failed++;
    row.failedTokens += tokensOf(r);
    const reason = reasonOf(r.error);
    const known = x.failedReasons.find((f) => f.reason === reason);
    if (known) known.calls++;
    else x.failedReasons.push({ reason, calls: 1 });
    x.failedReasons.sort((a, b) => b.calls - a.calls || a.reason.localeCompare(b.reason));
    if (x.failedReasons.length > MAX_REASONS) x.failedReasons.length = MAX_REASONS;
  } else if (r.cacheHit || r.replaySignal) {
    const row = customerRow(x, payer() ?? "");
    row.cacheHits++;
    row.cacheHitTokens += tokensOf(r);
  } else if (r.status === "success" && skips.some((s) => s.code === "no-customer")) {
    x.unattributed.calls++;
    x.unattributed.tokens += tokensOf(r);
    if (x.unattributed.samples.length < MAX_SAMPLES) x.unattributed.samples.push(r.recordId);
  }
}

export function addQuarantine(x: Exclusions, q: Quarantined): void {
  x.quarantined.count++;
  x.quarantined.byReason[q.reason] = (x.quarantined.byReason[q.reason] ?? 0) + 1;
  if (x.quarantined.samples.length < MAX_SAMPLES) x.quarantined.samples.push(q);
}

/** Adds `b` into `a` (the basis stays `a`'s). */
export function mergeExclusions(a: Exclusions, b: Exclusions): Exclusions {
  a.records += b.records;
  a.billed += b.billed;
  for (const c of b.customers) {
    const row = customerRow(a, c.customer);
    row.promptCacheReadTokens += c.promptCacheReadTokens;
    row.cacheHits += c.cacheHits;
    row.cacheHitTokens += c.cacheHitTokens;
    row.failed += c.failed;
    row.failedTokens += c.failedTokens;
  }
  for (const f of b.failedReasons) {
    const known = a.failedReasons.find((k) => k.reason === f.reason);
    if (known) known.calls += f.calls;
    else a.failedReasons.push({ ...f });
  }
  a.failedReasons.sort((x, y) => y.calls - x.calls || x.reason.localeCompare(y.reason));
  if (a.failedReasons.length > MAX_REASONS) a.failedReasons.length = MAX_REASONS;
  a.unattributed.calls += b.unattributed.calls;
  a.unattributed.tokens += b.unattributed.tokens;
  for (const s of b.unattributed.samples) if (a.unattributed.samples.length < MAX_SAMPLES) a.unattributed.samples.push(s);
  a.quarantined.count += b.quarantined.count;
  for (const [k, n] of Object.entries(b.quarantined.byReason)) a.quarantined.byReason[k] = (a.quarantined.byReason[k] ?? 0) + n;
  for (const q of b.quarantined.samples) if (a.quarantined.samples.length < MAX_SAMPLES) a.quarantined.samples.push(q);
  for (const [k, n] of Object.entries(b.skipped)) a.skipped[k] = (a.skipped[k] ?? 0) + n;
  return a;
}

/** Column sums over customers. */
export function exclusionTotals(x: Exclusions): Omit<CustomerExclusions, "customer"> {
  const t = { promptCacheReadTokens: 0, cacheHits: 0, cacheHitTokens: 0, failed: 0, failedTokens: 0 };
  for (const c of x.customers) {
    t.promptCacheReadTokens += c.promptCacheReadTokens;
    t.cacheHits += c.cacheHits;
    t.cacheHitTokens += c.cacheHitTokens;
    t.failed += c.failed;
    t.failedTokens += c.failedTokens;
  }
  return t;
}
