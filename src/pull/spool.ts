import { randomBytes } from "node:crypto";
import { appendFile, mkdir, readdir, rename, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { formats } from "../sources/registry.js";
import type { WindowContext, WindowSink } from "./pull.js";
import type { PulledItem, PulledKind, StreamKey, TimeWindow } from "./source.js";

/**
 * Pulled windows as export files, so the file pipeline (preview, sync, the ingest job) reads
 * them unchanged: `<dir>/<platform>/<project>/<from>_<to>/{runs,observations,traces}.jsonl`.
 * A window is written under a hidden temporary name and renamed into place once complete, so a
 * reader never sees half a window and a re-read window replaces its earlier copy.
 */

export const SPOOL_FILES: Record<PulledKind, string> = {
  run: "runs.jsonl",
  observation: "observations.jsonl",
  trace: "traces.jsonl",
};

export interface SpooledWindow {
  stream: StreamKey;
  window: TimeWindow;
  dir: string;
  /** Absolute paths, in the order the file pipeline wants them (any order works). */
  files: string[];
  lines: Partial<Record<PulledKind, number>>;
}

export interface SpoolOptions {
  dir: string;
  /** Runs once a window's files are in place, before the watermark moves (e.g. enqueue ingest). */
  onWindowFiles?: (w: SpooledWindow) => Promise<void>;
}

export interface SpoolSink extends WindowSink {
  /** Every window written so far, in order. */
  readonly windows: SpooledWindow[];
}

export function spoolSink(opts: SpoolOptions): SpoolSink {
  const root = resolve(opts.dir);
  const windows: SpooledWindow[] = [];
  const partial = new Map<string, { dir: string; lines: Partial<Record<PulledKind, number>> }>();
  const keyOf = (ctx: WindowContext) => `${ctx.stream.platform}/${ctx.stream.project}/${ctx.window.from}`;

  return {
    windows,
    async page(items, ctx) {
      let p = partial.get(keyOf(ctx));
      if (!p) {
        const dir = join(root, `.partial-${ctx.stream.platform}-${randomBytes(6).toString("hex")}`);
        await mkdir(dir, { recursive: true });
        p = { dir, lines: {} };
        partial.set(keyOf(ctx), p);
      }
      const byFile = new Map<PulledKind, string[]>();
      for (const item of items) {
        if (!belongsInFiles(item)) continue;
        const lines = byFile.get(item.kind) ?? [];
        lines.push(JSON.stringify(item.raw));
        byFile.set(item.kind, lines);
      }
      for (const [kind, lines] of byFile) {
        await appendFile(join(p.dir, SPOOL_FILES[kind]), lines.join("\n") + "\n");
        p.lines[kind] = (p.lines[kind] ?? 0) + lines.length;
      }
    },
    async windowDone(ctx) {
      const p = partial.get(keyOf(ctx));
      partial.delete(keyOf(ctx));
      if (!p) return;
      if (!p.lines.run && !p.lines.observation) {
        // Traces alone bill nothing; a window without records leaves no files behind.
        await rm(p.dir, { recursive: true, force: true });
        return;
      }
      const parent = join(root, ctx.stream.platform, safeName(ctx.stream.project));
      const dir = join(parent, `${stamp(ctx.window.from)}_${stamp(ctx.window.to)}`);
      await mkdir(parent, { recursive: true });
      await rm(dir, { recursive: true, force: true });
      await rename(p.dir, dir);
      const names = new Set(await readdir(dir));
      const files = (["trace", "observation", "run"] as const).map((k) => SPOOL_FILES[k]).filter((f) => names.has(f)).map((f) => join(dir, f));
      const spooled: SpooledWindow = { stream: ctx.stream, window: ctx.window, dir, files, lines: p.lines };
      windows.push(spooled);
      await opts.onWindowFiles?.(spooled);
    },
    async windowFailed(ctx) {
      const p = partial.get(keyOf(ctx));
      partial.delete(keyOf(ctx));
      if (p) await rm(p.dir, { recursive: true, force: true });
    },
  };
}

/**
 * Files bill every model call they contain, so a LangSmith context run (a root re-read from an
 * earlier window) goes in only when it is not itself a model call; that window billed it.
 * Context traces are context-only by format and always go in.
 */
function belongsInFiles(item: PulledItem): boolean {
  if (!item.context || item.kind !== "run") return true;
  const normalize = formats["langsmith-runs"].normalize;
  try {
    return normalize ? !normalize(item.raw).isModelCall : true;
  } catch {
    return false;
  }
}

/** 2026-11-20T09:00:00.000Z → 20261120T090000Z (sortable, no ':' for other filesystems). */
export function stamp(ms: number): string {
  const s = new Date(ms).toISOString().replace(/[-:]/g, "");
  return s.endsWith(".000Z") ? s.replace(".000Z", "Z") : s.replace(".", "");
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_") || "_";
}
