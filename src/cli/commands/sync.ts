import cliProgress from "cli-progress";
import { loadMappingSet } from "../../mapping/index.js";
import { enqueueSync, waitForSync, type SyncLiveProgress } from "../../queue/enqueue.js";
import type { SyncSnapshot } from "../../queue/progress.js";
import { detectInput } from "../../sources/registry.js";
import { baseContext, connectRedis, parseDestination } from "../context.js";
import { overrideOf, resolveInputs, type InputOptions } from "../inputs.js";

export interface SyncOptions extends InputOptions {
  destination: string;
  mapping?: string;
  wait?: boolean;
}

export function formatSnapshot(s: SyncSnapshot): string {
  const lines = [
    `sync ${s.syncId} → ${s.destination}`,
    `  events:       ${s.events}`,
    `  delivered:    ${s.delivered}`,
    `  already held: ${s.already}  (delivered before, or the same call twice in the input; not sent twice)`,
    `  dead-lettered:${String(s.dead).padStart(2)}`,
    `  skipped:      ${s.skipped}  (not billable by the mapping policy)`,
    `  quarantined:  ${s.quarantined}  (malformed input records)`,
    `  waiting:      ${s.parked}  (no customer yet; held until their trace context arrives, never billed to a guess)`,
  ];
  const inputs = Object.entries(s.perInput);
  if (inputs.length) {
    lines.push("  per input:");
    for (const [path, i] of inputs) {
      lines.push(`    ${path}: ${i.records} records, ${i.events} events, ${i.quarantined} quarantined`);
      for (const note of i.notes ?? []) lines.push(`      note: ${note}`);
    }
  }
  for (const [reason, n] of Object.entries(s.skipReasons).sort((a, b) => b[1] - a[1])) lines.push(`    ${String(n).padStart(5)}  ${reason}`);
  for (const q of s.quarantine.slice(0, 20)) lines.push(`    quarantined ${q.input} ${q.position}: ${q.reason}`);
  if (s.warning) lines.push(`  warning: ${s.warning}`);
  if (s.error) lines.push(`  error: ${s.error}`);
  return lines.join("\n");
}

type Stream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface SyncIo {
  /** The enqueue line and the final summary. */
  out: Stream;
  /** Hints; and the progress bars when it is a terminal. */
  err: Stream;
}

/**
 * Progress bars for `sync --wait` on a terminal: records read (with quarantined) and events
 * settled (delivered, already held, dead-lettered) out of those mapped, redrawn at each poll.
 */
export class SyncBars {
  private readonly multi: cliProgress.MultiBar;
  private readonly records: cliProgress.SingleBar;
  private readonly events: cliProgress.SingleBar;

  constructor(stream: Stream) {
    this.multi = new cliProgress.MultiBar(
      { stream, hideCursor: true, clearOnComplete: false, stopOnComplete: false, barsize: 30, fps: 10, autopadding: true, format: "{label} [{bar}] {detail}" },
      cliProgress.Presets.shades_classic,
    );
    this.records = this.multi.create(1, 0, { label: "records read     ", detail: "0 records" });
    this.events = this.multi.create(1, 0, { label: "events delivered ", detail: "waiting for ingest" });
  }

  update(s: SyncSnapshot, live: SyncLiveProgress): void {
    const reading = s.ingestDone ? "done" : "reading…";
    // The number of records is known once ingest is done: until then the bar follows what was read.
    this.records.setTotal(Math.max(live.recordsRead, 1));
    this.records.update(live.recordsRead, { detail: `${live.recordsRead} records, ${live.quarantined} quarantined, ${s.skipped} skipped — ${reading}` });
    const total = s.ingestDone ? s.events : Math.max(live.eventsMapped, s.settled);
    this.events.setTotal(Math.max(total, 1));
    this.events.update(s.ingestDone && s.events === 0 ? 1 : s.settled, {
      detail: `${s.settled}/${total}${s.ingestDone ? "" : "+"} events (${s.delivered} delivered, ${s.already} already held, ${s.dead} dead-lettered)`,
    });
  }

  log(line: string): void {
    this.multi.log(line + "\n");
  }

  stop(): void {
    this.multi.stop();
  }
}

/** Enqueues the inputs; with --wait, blocks until each event is delivered or dead-lettered. */
export async function syncCommand(args: string[], opts: SyncOptions, io: SyncIo = { out: process.stdout, err: process.stderr }): Promise<number> {
  const { config } = baseContext();
  const destination = parseDestination(opts.destination);
  const mappingPath = opts.mapping ?? config.mappingsDir;
  // Fail here, not in the worker, on what the caller can fix right away.
  await loadMappingSet(mappingPath);
  const inputs = await resolveInputs(args);
  const override = overrideOf(opts);
  for (const i of inputs) await detectInput(i, override);
  const redis = await connectRedis(config);
  try {
    const syncId = await enqueueSync(redis, config, { destination, inputs, mappingPath, override });
    io.out.write(`enqueued sync ${syncId} (${inputs.length} input${inputs.length === 1 ? "" : "s"} → ${destination})\n`);
    if (!opts.wait) return 0;
    const started = Date.now();
    let hinted = false;
    const hint = "still waiting for a worker to pick the job up — is `tracebill worker` running against the same REDIS_URL?";
    // Bars only on a terminal; piped output keeps the plain lines.
    const bars = io.err.isTTY === true ? new SyncBars(io.err) : undefined;
    let s: SyncSnapshot;
    try {
      s = await waitForSync(
        redis,
        config,
        syncId,
        (snap, live) => {
          bars?.update(snap, live);
          if (!hinted && !snap.ingestDone && snap.settled === 0 && Date.now() - started > 10_000) {
            hinted = true;
            if (bars) bars.log(hint);
            else io.err.write(hint + "\n");
          }
        },
        200,
        { live: bars !== undefined },
      );
    } finally {
      bars?.stop();
    }
    io.out.write(formatSnapshot(s) + "\n");
    if (s.error) return 2;
    return s.dead > 0 ? 1 : 0;
  } finally {
    await redis.quit();
  }
}
