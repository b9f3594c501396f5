import type { TraceRecord } from "../../src/model/index.js";
import { billedTotals, collect, repoPath, type Collected, type TenantTotal } from "./helpers.js";

export const LF_UI = {
  observationsCsv: repoPath("test/fixtures/langfuse/ui-export/1763648400000-lf-observations-export-cm3x9a1b20004qz8k7d1f2e3a.csv"),
  observationsJsonl: repoPath("test/fixtures/langfuse/ui-export/1763648400000-lf-observations-export-cm3x9a1b20004qz8k7d1f2e3a.jsonl"),
  tracesCsv: repoPath("test/fixtures/langfuse/ui-export/1763648400000-lf-traces-export-cm3x9a1b20004qz8k7d1f2e3a.csv"),
};

const BLOB = "test/fixtures/langfuse/blob/cm3x9a1b20004qz8k7d1f2e3a";
const BLOB_V4 = "test/fixtures/langfuse/blob-v4/cm3x9a1b20004qz8k7d1f2e3a";
export const LF_BLOB = {
  dir: repoPath("test/fixtures/langfuse/blob"),
  observations1: repoPath(`${BLOB}/observations/2025-11-20T12-30-00.jsonl`),
  observations2: repoPath(`${BLOB}/observations/2025-11-20T16-00-00.jsonl`),
  traces1: repoPath(`${BLOB}/traces/2025-11-20T12-30-00.jsonl`),
  traces2: repoPath(`${BLOB}/traces/2025-11-20T16-00-00.jsonl`),
  scores: repoPath(`${BLOB}/scores/2025-11-20T16-00-00.jsonl`),
  manifest: repoPath(`${BLOB}/manifests/2025-11-20T16-00-00.json`),
  v4Dir: repoPath("test/fixtures/langfuse/blob-v4"),
  observationsV2Csv: repoPath(`${BLOB_V4}/observations_v2/2025-11-20T16-00-00.csv`),
  tracesCsv: repoPath(`${BLOB_V4}/traces/2025-11-20T16-00-00.csv`),
};

/** What a billed record contributes, for comparing twins record by record (not only in sum). */
export interface Billed {
  tenant: string;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

/**
 * Overlapping export windows yield the same record twice; the pipeline keeps the first (the
 * billing event id derives from the record id, so the ledger would too).
 */
export function firstOfEachId(records: TraceRecord[]): TraceRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => (seen.has(r.recordId) ? false : (seen.add(r.recordId), true)));
}

export interface Bill {
  totals: Record<string, TenantTotal>;
  perRecord: Record<string, Billed>;
  withoutTenant: string[];
}

export function billOf(records: TraceRecord[]): Bill {
  const unique = firstOfEachId(records);
  const { totals, withoutTenant } = billedTotals(unique);
  const perRecord: Record<string, Billed> = {};
  for (const r of unique) {
    // The same policy, one record at a time: what this record adds to its tenant.
    const [tenant] = Object.keys(billedTotals([r]).totals);
    if (tenant === undefined || r.usage === null) continue;
    perRecord[r.recordId] = { tenant, input: r.usage.input, output: r.usage.output, cacheRead: r.usage.cacheRead, cacheWrite: r.usage.cacheWrite };
  }
  return { totals, perRecord, withoutTenant: withoutTenant.map((r) => r.recordId).sort() };
}

export async function billFiles(paths: string[]): Promise<Bill & { collected: Collected }> {
  const collected = await collect(paths);
  return { ...billOf(collected.records), collected };
}
