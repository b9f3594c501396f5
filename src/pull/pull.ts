import { UserError } from "../model/index.js";
import { systemClock, type Clock } from "./clock.js";
import { iso, type PulledItem, type PullSource, type StreamKey, type TimeWindow } from "./source.js";
import type { StreamLease, WatermarkStore } from "./watermark.js";

/**
 * The pull runner: from the stream's watermark up to `now - lag`, window by window, each window
 * read completely and handed off before the watermark moves past it. Hand-off is at least once
 * (a crash after the hand-off but before the watermark moves re-reads that window); the ledger's
 * idempotency keys make the second delivery a no-op.
 */

export interface WindowContext {
  stream: StreamKey;
  window: TimeWindow;
}

export interface PageContext extends WindowContext {
  /** 1-based, per window. */
  page: number;
}

/** Receives a window's items one API page at a time; a throw stops the pull, the watermark stays. */
export type PageHandler = (items: PulledItem[], ctx: PageContext) => Promise<void>;

/** Where pulled windows go: the pipeline, a spool directory, a test collector. */
export interface WindowSink {
  page: PageHandler;
  /** Every page of the window was handed off; runs before the watermark moves (throw to keep it). */
  windowDone?(ctx: WindowContext & { report: WindowReport }): Promise<void>;
  /** The window was abandoned (an error, a lost lease): drop what `page` kept of it. */
  windowFailed?(ctx: WindowContext, error: unknown): Promise<void>;
}

export interface WindowReport {
  from: string;
  to: string;
  pages: number;
  /** Items that start in the window. */
  items: number;
  /** Context items read from outside the window. */
  context: number;
}

export interface PullOptions {
  source: PullSource;
  store: WatermarkStore;
  sink: WindowSink | PageHandler;
  /** Where a stream with no watermark starts. Ignored once it has one: a pull never skips or re-reads. */
  from?: number | Date | string;
  /** Upper bound (exclusive); the pull never goes past `now - lagMs` either. */
  to?: number | Date | string;
  /** How far behind now the pull stays, for data that reaches the platform late. */
  lagMs: number;
  /** Window size; windows are aligned to multiples of it (UTC), the first and last may be shorter. */
  windowMs: number;
  clock?: Clock;
  /** Lease on the stream, renewed in the background and checked before every hand-off (default 10 min). */
  leaseTtlMs?: number;
  /** Stop after this many windows (the scheduler bounds one run; the next run continues). */
  maxWindows?: number;
  /** Read [from, to) again without looking at or moving the watermark (a backfill or an audit). */
  replay?: boolean;
  /** Told after each window is handed off (and, unless replaying, the watermark moved). */
  onWindow?: (report: WindowReport) => void;
  /** How long an unfinished item (a run still pending) is read again before it is given up (default 24 h). */
  unfinishedMaxAgeMs?: number;
}

/** Items handed off unfinished by earlier pulls, read again by id at the start of this one. */
export interface UnfinishedReport {
  /** Read again this run. */
  revisited: number;
  /** Finished since: handed off again (now billable), and forgotten. */
  finished: number;
  /** Still running: kept for the next pull. */
  stillRunning: number;
  /** First seen longer ago than `unfinishedMaxAgeMs`: given up (never billed), by id. */
  abandoned: string[];
}

export interface PullResult {
  /** `busy`: another puller holds the stream; nothing was read. */
  status: "pulled" | "up-to-date" | "busy" | "replayed";
  stream: StreamKey;
  windows: WindowReport[];
  /** Watermark after the run (epoch ms), null if the stream has none. */
  watermark: number | null;
  /** The end this run aimed at: min(to, now - lag). */
  until: number;
  /** Present when earlier pulls left unfinished items. */
  unfinished?: UnfinishedReport;
}

const DEFAULT_LEASE_MS = 10 * 60_000;
export const DEFAULT_UNFINISHED_MAX_AGE_MS = 24 * 3_600_000;

/** Reads one window and hands it off page by page. `beforePage` may throw to stop (lost lease). */
export async function pullWindow(
  source: PullSource,
  ctx: WindowContext,
  sink: WindowSink | PageHandler,
  beforePage?: () => Promise<void>,
): Promise<WindowReport> {
  const s = asSink(sink);
  const report: WindowReport = { from: iso(ctx.window.from), to: iso(ctx.window.to), pages: 0, items: 0, context: 0 };
  try {
    for await (const items of source.read(ctx.window)) {
      if (items.length === 0) continue;
      await beforePage?.();
      report.pages++;
      for (const i of items) {
        if (i.context) report.context++;
        else report.items++;
      }
      await s.page(items, { ...ctx, page: report.pages });
    }
  } catch (e) {
    await s.windowFailed?.(ctx, e);
    throw e;
  }
  return report;
}

export async function runPull(opts: PullOptions): Promise<PullResult> {
  if (!(opts.windowMs > 0)) throw new UserError("the pull window must be longer than zero");
  if (!(opts.lagMs >= 0)) throw new UserError("the pull lag cannot be negative");
  const clock = opts.clock ?? systemClock;
  const sink = asSink(opts.sink);
  const stream: StreamKey = { platform: opts.source.platform, project: await opts.source.project() };
  const to = opts.to === undefined ? Infinity : instant(opts.to, "--to");
  const until = Math.min(to, clock.now() - opts.lagMs);
  const from = opts.from === undefined ? undefined : instant(opts.from, "--from");
  const windows: WindowReport[] = [];
  const max = opts.maxWindows ?? Infinity;

  if (opts.replay) {
    if (from === undefined) throw new UserError("a replay needs a start (--from)");
    for (let w = from; w < until && windows.length < max; ) {
      const window: TimeWindow = { from: w, to: nextBoundary(w, opts.windowMs, until) };
      windows.push(await handOff(opts.source, { stream, window }, sink));
      opts.onWindow?.(windows.at(-1)!);
      w = window.to;
    }
    return { status: "replayed", stream, windows, watermark: await opts.store.get(stream), until };
  }

  const ttl = opts.leaseTtlMs ?? DEFAULT_LEASE_MS;
  const lease = await opts.store.acquire(stream, ttl);
  if (!lease) return { status: "busy", stream, windows, watermark: await opts.store.get(stream), until };
  // A page can take long (a Retry-After of several minutes): keep the lease alive in between too.
  const heartbeat = setInterval(() => void lease.renew().catch(() => undefined), Math.max(1000, ttl / 3));
  heartbeat.unref();
  try {
    let expected = await opts.store.get(stream);
    const start = expected ?? from;
    if (start === undefined) {
      throw new UserError(`${stream.platform} project ${stream.project} has never been pulled: give a start (--from, or TRACEBILL_PULL_START)`);
    }
    const unfinished = await revisitUnfinished(opts, stream, sink, lease, clock);
    for (let w = start; w < until && windows.length < max; ) {
      const window: TimeWindow = { from: w, to: nextBoundary(w, opts.windowMs, until) };
      const running: string[] = [];
      windows.push(await handOff(opts.source, { stream, window }, watchUnfinished(opts.source, sink, running), lease));
      // Before the watermark moves past them: a crash in between re-reads the window, no run is lost.
      await opts.store.addUnfinished(stream, running, clock.now());
      await lease.advance(expected, window.to);
      expected = w = window.to;
      opts.onWindow?.(windows.at(-1)!);
    }
    const status = windows.length || unfinished?.finished ? "pulled" : "up-to-date";
    return { status, stream, windows, watermark: expected, until, ...(unfinished ? { unfinished } : {}) };
  } finally {
    clearInterval(heartbeat);
    await lease.release();
  }
}

/** The sink, noting the ids of unfinished items it is handed. */
function watchUnfinished(source: PullSource, sink: WindowSink, into: string[]): WindowSink {
  const idOf = source.unfinishedId?.bind(source);
  if (!idOf) return sink;
  return {
    ...sink,
    page: async (items, ctx) => {
      for (const i of items) {
        const id = idOf(i);
        if (id) into.push(id);
      }
      await sink.page(items, ctx);
    },
  };
}

/**
 * Reads again, by id, what earlier pulls handed off unfinished. The finished ones are handed off
 * as one extra window named after this run's time (its own spool directory: it can never replace
 * a time window's), with the context they need; then they are forgotten. A crash before that
 * reads them again next time, and the ledger's idempotency keys make the second hand-off a no-op.
 */
async function revisitUnfinished(opts: PullOptions, stream: StreamKey, sink: WindowSink, lease: StreamLease, clock: Clock): Promise<UnfinishedReport | undefined> {
  const src = opts.source;
  if (!src.revisit || !src.unfinishedId) return undefined;
  const list = await opts.store.unfinished(stream);
  if (!list.length) return undefined;
  const now = clock.now();
  const maxAge = opts.unfinishedMaxAgeMs ?? DEFAULT_UNFINISHED_MAX_AGE_MS;
  const abandoned = list.filter((u) => now - u.seenAt > maxAge).map((u) => u.id);
  const live = list.filter((u) => now - u.seenAt <= maxAge).map((u) => u.id);
  const pages: PulledItem[][] = [];
  const finished: string[] = [];
  let stillRunning = 0;
  if (live.length) {
    for await (const page of src.revisit(live)) {
      const keep = page.filter((i) => {
        if (i.context) return true;
        if (src.unfinishedId!(i)) {
          stillRunning++;
          return false;
        }
        finished.push(String((i.raw as { id?: unknown }).id));
        return true;
      });
      if (keep.length) pages.push(keep);
    }
  }
  if (finished.length) {
    const replay: PullSource = { platform: src.platform, project: () => src.project(), read: async function* () { yield* pages; } };
    await handOff(replay, { stream, window: { from: now, to: now + 1 } }, sink, lease);
  }
  await opts.store.removeUnfinished(stream, [...finished, ...abandoned]);
  return { revisited: live.length, finished: finished.length, stillRunning, abandoned };
}

async function handOff(source: PullSource, ctx: WindowContext, sink: WindowSink, lease?: StreamLease): Promise<WindowReport> {
  const check = lease ? () => lease.assertHeld() : undefined;
  const report = await pullWindow(source, ctx, sink, check);
  try {
    await check?.();
    await sink.windowDone?.({ ...ctx, report });
  } catch (e) {
    await sink.windowFailed?.(ctx, e);
    throw e;
  }
  return report;
}

/** End of the window starting at `w`: the next multiple of `size` after it, capped at `until`. */
export function nextBoundary(w: number, size: number, until: number): number {
  return Math.min(Math.floor(w / size) * size + size, until);
}

function asSink(s: WindowSink | PageHandler): WindowSink {
  return typeof s === "function" ? { page: s } : s;
}

function instant(v: number | Date | string, what: string): number {
  const t = typeof v === "number" ? v : typeof v === "string" ? Date.parse(v) : v.getTime();
  if (!Number.isFinite(t)) throw new UserError(`${what}: not a date/time: ${JSON.stringify(String(v))} (use ISO 8601, e.g. 2026-11-20T00:00:00Z)`);
  return t;
}
