import { relative } from "node:path";
import { loadConfig } from "../../config/env.js";
import { loadMappingSet } from "../../mapping/index.js";
import { UserError, type Platform } from "../../model/index.js";
import type { Clock } from "../../pull/clock.js";
import { spoolAndIngestSink } from "../../pull/deliver.js";
import type { ApiTuning } from "../../pull/http.js";
import { runPull, type PullResult } from "../../pull/pull.js";
import { parsePullEnv } from "../../pull/settings.js";
import { pullSourceFor } from "../../pull/sources.js";
import { iso } from "../../pull/source.js";
import { spoolSink } from "../../pull/spool.js";
import { WatermarkStore } from "../../pull/watermark.js";
import { waitForSync } from "../../queue/enqueue.js";
import { connectRedis, parseDestination } from "../context.js";
import { formatSnapshot } from "./sync.js";

export interface PullCommandOptions {
  from?: string;
  to?: string;
  destination?: string;
  mapping?: string;
  out?: string;
  replay?: boolean;
  wait?: boolean;
}

/** What tests (and an embedding program) replace; the CLI passes none of it. */
export interface PullCommandDeps {
  env?: Record<string, string | undefined>;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
  clock?: Clock;
  tuning?: Partial<ApiTuning>;
}

const PLATFORMS: readonly Platform[] = ["langfuse", "langsmith"];

/**
 * `tracebill pull langfuse|langsmith`: reads the platform's API from the stream's watermark (or
 * --from) up to now − lag, window by window; each window becomes JSONL files (--out DIR), and with
 * --destination one ingest job per window. The watermark in Redis moves after each window.
 */
export async function pullCommand(platform: string, opts: PullCommandOptions, deps: PullCommandDeps = {}): Promise<number> {
  if (!(PLATFORMS as readonly string[]).includes(platform)) throw new UserError(`pull takes langfuse or langsmith (got "${platform}")`);
  const env = deps.env ?? process.env;
  const out = deps.out ?? process.stdout;
  const err = deps.err ?? process.stderr;
  const config = loadConfig(env);
  const pull = parsePullEnv(env);
  const destination = opts.destination ? parseDestination(opts.destination) : null;
  if (!destination && !opts.out) throw new UserError("give --out DIR to write the pulled windows as files, or --destination lago|openmeter to deliver them");
  if (opts.replay && !opts.from) throw new UserError("--replay needs --from");
  const mappingPath = opts.mapping ?? config.mappingsDir;
  if (destination) await loadMappingSet(mappingPath);

  const source = pullSourceFor(platform as Platform, pull, {
    timeoutMs: config.httpTimeoutMs,
    clock: deps.clock,
    onRetry: (n) => err.write(`${n.service} ${n.method} ${n.path}: ${n.reason}; retrying in ${Math.ceil(n.waitMs / 1000)} s\n`),
    ...deps.tuning,
  });
  const redis = await connectRedis(config);
  const syncIds: string[] = [];
  try {
    const dir = opts.out ?? pull.spoolDir;
    const sink = destination
      ? spoolAndIngestSink({ redis, config, destination, mappingPath, spoolDir: dir, onEnqueued: (id) => syncIds.push(id) })
      : spoolSink({ dir });
    const result = await runPull({
      source,
      store: new WatermarkStore(redis, config.queuePrefix),
      sink,
      from: opts.from,
      to: opts.to,
      lagMs: pull.lagMs,
      windowMs: pull.windowMs,
      clock: deps.clock,
      replay: opts.replay,
      onWindow: (w) => {
        if (w.items + w.context === 0) return;
        const spooled = sink.windows.find((s) => iso(s.window.from) === w.from);
        const where = spooled ? ` → ${relative(process.cwd(), spooled.dir) || "."}` : "";
        out.write(`${w.from} … ${w.to}  ${w.items} items${w.context ? ` (+${w.context} context)` : ""}${where}\n`);
      },
    });
    out.write(summary(result) + "\n");
    if (result.status === "busy") return 1;
    if (destination && syncIds.length) {
      out.write(`enqueued ${syncIds.length} ingest job${syncIds.length === 1 ? "" : "s"} → ${destination}${opts.wait ? "" : " (a `tracebill worker` delivers them)"}\n`);
      if (opts.wait) {
        let dead = 0;
        for (const id of syncIds) {
          const s = await waitForSync(redis, config, id);
          out.write(formatSnapshot(s) + "\n");
          if (s.error) return 2;
          dead += s.dead;
        }
        return dead > 0 ? 1 : 0;
      }
    }
    return 0;
  } finally {
    await redis.quit();
  }
}

function summary(r: PullResult): string {
  const u = r.unfinished;
  const revisit = u
    ? `\n${u.revisited} unfinished run(s) read again: ${u.finished} finished (handed off now), ${u.stillRunning} still running` +
      (u.abandoned.length ? `; ${u.abandoned.length} given up after the maximum age (not billed): ${u.abandoned.slice(0, 5).join(", ")}` : "")
    : "";
  return windowsSummary(r) + revisit;
}

function windowsSummary(r: PullResult): string {
  const what = `${r.stream.platform} project ${r.stream.project}`;
  const wm = r.watermark === null ? "none" : iso(r.watermark);
  const items = r.windows.reduce((a, w) => a + w.items, 0);
  switch (r.status) {
    case "busy":
      return `another pull of ${what} is running; nothing read (watermark ${wm})`;
    case "up-to-date":
      return `${what} is up to date: watermark ${wm}, nothing to read before ${iso(r.until)} (now − lag)`;
    case "replayed":
      return `replayed ${r.windows.length} window(s) of ${what}, ${items} items; watermark untouched (${wm})`;
    default:
      return `pulled ${r.windows.length} window(s) of ${what}, ${items} items; watermark now ${wm}`;
  }
}
