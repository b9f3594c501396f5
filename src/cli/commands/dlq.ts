import type { Redis } from "ioredis";
import type { Config } from "../../config/env.js";
import type { DeadLetterSelection, StoredDeadLetter } from "../../ledger/ledger.js";
import { UserError, type BillableEvent, type Destination } from "../../model/index.js";
import { baseContext, connectRedis, ledgerFor, parseDestination } from "../context.js";
import { table } from "../table.js";

/**
 * `tracebill dlq list|show|retry|purge`: look at what a destination refused (or what was given up
 * after the last attempt), hand it back for delivery once the cause is fixed, or drop it.
 * The command functions take their dependencies, so tests drive them without spawning.
 */

/** Hands events back for delivery (a deliver job); returns a reference to print (e.g. the sync id). */
export type EnqueueRetry = (destination: Destination, events: BillableEvent[]) => Promise<string | void>;

export interface DlqDeps {
  redis: Redis;
  config: Config;
  enqueueRetry: EnqueueRetry;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
}

export interface DlqOptions {
  destination: string;
  /** Only letters whose reason contains this (case-insensitive). */
  reason?: string;
  /** Only this customer's letters. */
  customer?: string;
  limit?: string | number;
  json?: boolean;
  /** retry / purge: every letter (needed when no id or filter is given). */
  all?: boolean;
}

export type DlqVerb = "list" | "show" | "retry" | "purge";

/**
 * Letters handed to one enqueueRetry call (one sync of ≤ 10 deliver jobs of 100). A failure
 * puts back only the letters not yet handed on.
 */
export const RETRY_CHUNK = 1000;
const LIST_DEFAULT_LIMIT = 50;
const REASON_WIDTH = 60;

function parseLimit(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`--limit must be a positive whole number (got "${v}")`);
  return n;
}

function selection(ids: string[], o: DlqOptions, verb: "retry" | "purge"): DeadLetterSelection {
  const s: DeadLetterSelection = {
    ...(ids.length ? { ids } : {}),
    ...(o.reason ? { reason: o.reason } : {}),
    ...(o.customer ? { customer: o.customer } : {}),
    ...(o.all ? { all: true } : {}),
  };
  const limit = parseLimit(o.limit);
  if (limit !== undefined) s.limit = limit;
  if (!s.ids && !s.reason && !s.customer && !s.all) {
    throw new UserError(`dlq ${verb}: name event ids, or filter with --reason / --customer, or pass --all`);
  }
  if (s.all && (s.ids || s.reason || s.customer)) throw new UserError(`dlq ${verb}: --all cannot be combined with ids, --reason or --customer`);
  return s;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const num = (v: number) => v.toLocaleString("en-US");

function writeJson(out: NodeJS.WritableStream, v: unknown): void {
  out.write(`${JSON.stringify(v, null, 2)}\n`);
}

export async function dlqList(deps: DlqDeps, opts: DlqOptions): Promise<number> {
  const out = deps.out ?? process.stdout;
  const d = parseDestination(opts.destination);
  const limit = parseLimit(opts.limit) ?? LIST_DEFAULT_LIMIT;
  const listing = await ledgerFor(deps.redis, deps.config).listDeadLetters(d, {
    ...(opts.reason ? { reason: opts.reason } : {}),
    ...(opts.customer ? { customer: opts.customer } : {}),
    limit,
  });
  if (opts.json) {
    writeJson(out, { destination: d, total: listing.total, shown: listing.letters.length, byReason: listing.byReason, letters: listing.letters });
    return 0;
  }
  if (listing.total === 0) {
    out.write(`no dead letters for ${d}${opts.reason || opts.customer ? " matching the filter" : ""}\n`);
    return 0;
  }
  const t = table(["Event id", "Customer", "Metric", "Value", "Source record", "Reason", "Dead-lettered", "Times", "Retries"], ["left", "left", "left", "right", "left", "left", "left", "right", "right"]);
  for (const l of listing.letters) {
    t.push([l.event.id, l.event.customer, l.event.metric, num(l.event.value), l.event.source?.record_id ?? "", clip(l.reason, REASON_WIDTH), l.at, String(l.times), String(l.retries)]);
  }
  out.write(`${t.toString()}\n`);
  out.write(`${num(listing.letters.length)} of ${num(listing.total)} dead letters for ${d}${listing.letters.length < listing.total ? ` (oldest first; --limit ${listing.total} for all)` : ""}\n\n`);
  const r = table(["Reason", "Letters"], ["left", "right"]);
  for (const [reason, n] of Object.entries(listing.byReason).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) r.push([clip(reason, 100), num(n)]);
  out.write(`${r.toString()}\n`);
  return 0;
}

export async function dlqShow(deps: DlqDeps, id: string, opts: DlqOptions): Promise<number> {
  const out = deps.out ?? process.stdout;
  const err = deps.err ?? process.stderr;
  const d = parseDestination(opts.destination);
  const l = await ledgerFor(deps.redis, deps.config).deadLetterOf(d, id);
  if (!l) {
    err.write(`no dead letter ${id} for ${d}\n`);
    return 1;
  }
  if (opts.json) {
    writeJson(out, { destination: d, ...l });
    return 0;
  }
  const lines: [string, string][] = [
    ["event", l.event.id],
    ["destination", d],
    ["customer", l.event.customer],
    ["metric", `${l.event.metric} = ${l.event.value}`],
    ["usage time", l.event.timestamp],
    ["source record", `${l.event.source?.platform ?? "?"} ${l.event.source?.record_id ?? "?"} (trace ${l.event.source?.trace_id ?? "?"})`],
    ["reason", l.reason],
    ["dead-lettered", l.times > 1 ? `${l.at} (${l.times} times, first ${l.firstAt})` : l.at],
    ["attempts", l.attempts === undefined ? "unknown" : String(l.attempts)],
    ["retried", `${l.retries} time${l.retries === 1 ? "" : "s"} with dlq retry`],
  ];
  const w = Math.max(...lines.map(([k]) => k.length));
  for (const [k, v] of lines) out.write(`${k.padEnd(w)}  ${v}\n`);
  out.write(`\n${JSON.stringify(l.event, null, 2)}\n`);
  return 0;
}

/**
 * Takes the selected letters out of the list and hands them back for delivery, RETRY_CHUNK at a
 * time. If handing a chunk on fails, that chunk and the rest go back into the list, untouched.
 * Exit 1 when an id given on the command line was not in the list.
 */
export async function dlqRetry(deps: DlqDeps, ids: string[], opts: DlqOptions): Promise<number> {
  const out = deps.out ?? process.stdout;
  const err = deps.err ?? process.stderr;
  const d = parseDestination(opts.destination);
  const sel = selection(ids, opts, "retry");
  const ledger = ledgerFor(deps.redis, deps.config);
  const taken = await ledger.takeDeadLetters(d, sel);
  const refs: string[] = [];
  for (let i = 0; i < taken.length; i += RETRY_CHUNK) {
    try {
      const ref = await deps.enqueueRetry(d, taken.slice(i, i + RETRY_CHUNK).map((l) => l.event));
      if (ref) refs.push(ref);
    } catch (e) {
      const back = taken.slice(i);
      await ledger.restoreDeadLetters(d, back);
      throw new Error(`handing dead letters back failed after ${i} of ${taken.length}; the other ${back.length} are back in the list: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  const missing = missingIds(ids, taken);
  if (opts.json) {
    writeJson(out, { destination: d, retried: taken.length, ids: taken.map((l) => l.event.id), jobs: refs, ...(missing.length ? { missing } : {}) });
  } else {
    out.write(`handed ${num(taken.length)} dead letter${taken.length === 1 ? "" : "s"} back for delivery to ${d}${refs.length ? ` (${refs.join(", ")})` : ""}\n`);
    if (taken.length) out.write("events the destination refuses again return to the list.\n");
  }
  if (missing.length) err.write(`not in the ${d} dead-letter list${opts.reason || opts.customer ? " (or not matching the filter)" : ""}: ${missing.join(", ")}\n`);
  return missing.length ? 1 : 0;
}

export async function dlqPurge(deps: DlqDeps, ids: string[], opts: DlqOptions): Promise<number> {
  const out = deps.out ?? process.stdout;
  const err = deps.err ?? process.stderr;
  const d = parseDestination(opts.destination);
  const sel = selection(ids, opts, "purge");
  const n = await ledgerFor(deps.redis, deps.config).purgeDeadLetters(d, sel);
  const missing = ids.length ? ids.length - n : 0;
  if (opts.json) writeJson(out, { destination: d, purged: n, ...(missing ? { missing } : {}) });
  else out.write(`purged ${num(n)} dead letter${n === 1 ? "" : "s"} for ${d}\n`);
  if (missing > 0) err.write(`${missing} of the given ids were not in the ${d} dead-letter list${opts.reason || opts.customer ? " (or not matching the filter)" : ""}\n`);
  return missing > 0 ? 1 : 0;
}

function missingIds(ids: string[], taken: StoredDeadLetter[]): string[] {
  if (!ids.length) return [];
  const got = new Set(taken.map((l) => l.event.id));
  return [...new Set(ids)].filter((id) => !got.has(id));
}

/**
 * Entry point for the command table: reads the config, connects to Redis, runs the verb.
 * `makeEnqueueRetry` wires retry to the deliver queue (only called for `retry`).
 */
export async function dlqCommand(
  verb: DlqVerb,
  ids: string[],
  opts: DlqOptions,
  makeEnqueueRetry: (redis: Redis, config: Config) => EnqueueRetry,
): Promise<number> {
  const { config } = baseContext();
  parseDestination(opts.destination);
  parseLimit(opts.limit);
  const redis = await connectRedis(config);
  try {
    const deps: DlqDeps = {
      redis, config,
      enqueueRetry: verb === "retry" ? makeEnqueueRetry(redis, config) : () => Promise.reject(new Error("enqueueRetry is only wired for retry")),
    };
    switch (verb) {
      case "list": return await dlqList(deps, opts);
      case "show": return await dlqShow(deps, ids[0] ?? "", opts);
      case "retry": return await dlqRetry(deps, ids, opts);
      case "purge": return await dlqPurge(deps, ids, opts);
    }
  } finally {
    await redis.quit();
  }
}
