import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Quarantined, TraceRecord } from "../../src/model/index.js";
import { readInputs } from "../../src/sources/registry.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Path of a file under the repo root, e.g. `repoPath("test/fixtures/langsmith/runs.jsonl")`. */
export function repoPath(rel: string): string {
  return join(ROOT, rel);
}

export const LS_RUNS = repoPath("test/fixtures/langsmith/runs.jsonl");
export const LS_RUNS_V2 = repoPath("test/fixtures/langsmith/runs-v2.json");
export const LF_OBSERVATIONS = repoPath("test/fixtures/langfuse/observations.jsonl");
export const LF_TRACES = repoPath("test/fixtures/langfuse/traces.json");

/** The raw JSON of one JSONL line (1-based) or JSON-array element (0-based), as exported. */
export async function rawLine(path: string, line: number): Promise<Record<string, unknown>> {
  const text = await readFile(path, "utf8");
  return JSON.parse(text.split("\n")[line - 1] ?? "") as Record<string, unknown>;
}

export async function rawElement(path: string, index: number): Promise<Record<string, unknown>> {
  const items = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>[];
  const item = items[index];
  if (!item) throw new Error(`no element ${index} in ${path}`);
  return item;
}

export interface Collected {
  records: TraceRecord[];
  quarantined: Quarantined[];
  /** Where each record came from, keyed by record id. */
  positions: Map<string, string>;
  /** "<input>: <note>" for every note a reader gave. */
  notes: string[];
}

export async function collect(paths: string[]): Promise<Collected> {
  const out: Collected = { records: [], quarantined: [], positions: new Map(), notes: [] };
  for await (const item of readInputs(paths)) {
    if (item.kind === "record") {
      out.records.push(item.record);
      out.positions.set(item.record.recordId, `${item.input}#${item.position}`);
    } else if (item.kind === "quarantine") {
      out.quarantined.push(item.entry);
    } else {
      out.notes.push(`${item.input}: ${item.note}`);
    }
  }
  return out;
}

export function byId(records: TraceRecord[], id: string): TraceRecord {
  const r = records.find((x) => x.recordId === id);
  if (!r) throw new Error(`record ${id} not yielded`);
  return r;
}

export async function tempFile(name: string, content: string | Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tracebill-sources-"));
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

export interface TenantTotal {
  input: number;
  output: number;
}

/**
 * The default billing policy, applied directly to normalized records so fixture totals can be
 * checked independently of the mapping layer: only successful, real, non-cached (nor replayed) model calls with
 * reported (not estimated) usage and a tenant bill. Billed input = uncached input + cache
 * writes (= inclusive input − cache reads); billed output = output (reasoning included).
 */
export function billedTotals(records: TraceRecord[]): { totals: Record<string, TenantTotal>; withoutTenant: TraceRecord[] } {
  const totals: Record<string, TenantTotal> = {};
  const withoutTenant: TraceRecord[] = [];
  for (const r of records) {
    if (!r.isModelCall || r.status !== "success" || r.cacheHit || r.replaySignal || r.usageEstimated || r.usage === null) continue;
    const tenant = r.attributes["tenant_id"] ?? r.attributes["customer_id"];
    if (tenant === undefined || tenant === null || tenant === "") {
      withoutTenant.push(r);
      continue;
    }
    const t = (totals[String(tenant)] ??= { input: 0, output: 0 });
    t.input += r.usage.input - r.usage.cacheRead;
    t.output += r.usage.output;
  }
  return { totals, withoutTenant };
}
