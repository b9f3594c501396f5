import { loadMappingSet } from "../../mapping/index.js";
import { enqueueSync, waitForSync } from "../../queue/enqueue.js";
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

/** Enqueues the inputs; with --wait, blocks until each event is delivered or dead-lettered. */
export async function syncCommand(args: string[], opts: SyncOptions): Promise<number> {
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
    console.log(`enqueued sync ${syncId} (${inputs.length} input${inputs.length === 1 ? "" : "s"} → ${destination})`);
    if (!opts.wait) return 0;
    const started = Date.now();
    let hinted = false;
    const s = await waitForSync(redis, config, syncId, (snap) => {
      if (!hinted && !snap.ingestDone && snap.settled === 0 && Date.now() - started > 10_000) {
        hinted = true;
        console.error("still waiting for a worker to pick the job up — is `tracebill worker` running against the same REDIS_URL?");
      }
    });
    console.log(formatSnapshot(s));
    if (s.error) return 2;
    return s.dead > 0 ? 1 : 0;
  } finally {
    await redis.quit();
  }
}
