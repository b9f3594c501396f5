import { Queue, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Platform } from "../model/index.js";
import { bullPrefix } from "../queue/jobs.js";
import { redisConnection } from "../queue/worker.js";
import type { Logger } from "../runtime/logger.js";
import { systemClock, type Clock } from "./clock.js";
import type { ApiTuning } from "./http.js";
import { runPull, type PullResult, type WindowSink } from "./pull.js";
import { configuredPlatforms, type PullConfig } from "./settings.js";
import { pullSourceFor } from "./sources.js";
import type { PullSource } from "./source.js";
import { WatermarkStore } from "./watermark.js";

/**
 * Pull on a schedule inside the worker: one BullMQ job scheduler per configured platform fires a
 * `pull` job every `everyMs`; whichever worker takes it runs one pull. Several workers are safe:
 * BullMQ hands each job to one of them, and the stream lease turns a pull that would overlap a
 * still-running one into a no-op ("busy").
 */

export const PULL_QUEUE = "pull";
const SCHEDULER_PREFIX = "pull:";

export interface PullJobData {
  platform: Platform;
}

export interface ScheduledPullDeps {
  redisUrl: string;
  /** TRACEBILL_QUEUE_PREFIX: queues and watermarks live under it. */
  queuePrefix: string;
  pull: PullConfig;
  /** Where each platform's windows go (the lead: the mapping + delivery pipeline). */
  sinkFor(platform: Platform): WindowSink;
  logger: Logger;
  clock?: Clock;
  /** HTTP tuning beyond the config (timeouts, a test clock). */
  tuning?: Partial<ApiTuning>;
  /** Replaces the API source (tests). */
  sourceFor?(platform: Platform): PullSource;
  /** Windows per run; the next run continues (default 24, so a backlog does not hold one job for hours). */
  maxWindowsPerRun?: number;
  /** Platforms to schedule (default: every configured one). */
  platforms?: Platform[];
}

export interface ScheduledPull {
  /** Stops taking pull jobs (waits for a running one); the schedulers stay for the next start. */
  close(): Promise<void>;
}

export async function startScheduledPull(deps: ScheduledPullDeps): Promise<ScheduledPull> {
  const clock = deps.clock ?? systemClock;
  const prefix = bullPrefix(deps.queuePrefix);
  const platforms = deps.platforms ?? configuredPlatforms(deps.pull);
  const conn = redisConnection(deps.redisUrl);
  const workerConn = redisConnection(deps.redisUrl);
  const store = new WatermarkStore(conn, deps.queuePrefix);
  const queue = new Queue<PullJobData>(PULL_QUEUE, { connection: conn, prefix });
  const sources = new Map<Platform, PullSource>();

  await syncSchedulers(queue, platforms, deps.pull.everyMs);

  async function pullOnce(job: Job<PullJobData>): Promise<Omit<PullResult, "windows"> & { windows: number; items: number }> {
    const { platform } = job.data;
    let source = sources.get(platform);
    if (!source) {
      source = deps.sourceFor?.(platform) ?? pullSourceFor(platform, deps.pull, { clock, ...deps.tuning });
      sources.set(platform, source);
    }
    const now = clock.now();
    // A stream never pulled starts at TRACEBILL_PULL_START, else at the current window: no surprise backfill.
    const from = deps.pull.startAt ?? Math.floor((now - deps.pull.lagMs) / deps.pull.windowMs) * deps.pull.windowMs;
    const result = await runPull({
      source,
      store,
      sink: deps.sinkFor(platform),
      from,
      lagMs: deps.pull.lagMs,
      windowMs: deps.pull.windowMs,
      clock,
      maxWindows: deps.maxWindowsPerRun ?? 24,
      onWindow: (w) => deps.logger.info({ platform, from: w.from, to: w.to, items: w.items, context: w.context }, "pull window handed off"),
    });
    const items = result.windows.reduce((a, w) => a + w.items, 0);
    if (result.status === "busy") deps.logger.debug({ platform }, "pull skipped: another puller holds the stream");
    const u = result.unfinished;
    if (u) deps.logger.info({ platform, revisited: u.revisited, finished: u.finished, stillRunning: u.stillRunning, abandoned: u.abandoned.length }, "unfinished runs read again");
    if (u?.abandoned.length) deps.logger.warn({ platform, ids: u.abandoned.slice(0, 20) }, "runs still unfinished after the maximum age: given up, not billed");
    return { ...result, windows: result.windows.length, items };
  }

  const worker = new Worker<PullJobData>(PULL_QUEUE, pullOnce, { connection: workerConn, prefix, concurrency: 1 });
  worker.on("failed", (job, err) => deps.logger.error({ platform: job?.data.platform, err: err.message }, "pull failed; the next scheduled run resumes at the watermark"));
  worker.on("error", (err) => deps.logger.error({ err: err.message }, "pull worker error"));
  await worker.waitUntilReady();
  deps.logger.info({ platforms, everyMs: deps.pull.everyMs }, "scheduled pull ready");

  return {
    close: async () => {
      await worker.close();
      await queue.close();
      await Promise.all([conn, workerConn].map((c: Redis) => c.quit().catch(() => undefined)));
    },
  };
}

/** One scheduler per platform to pull; schedulers of platforms no longer configured are removed. */
async function syncSchedulers(queue: Queue<PullJobData>, platforms: Platform[], everyMs: number): Promise<void> {
  const wanted = new Set(platforms.map((p) => SCHEDULER_PREFIX + p));
  for (const s of await queue.getJobSchedulers()) {
    const id = s.id ?? s.key;
    if (id.startsWith(SCHEDULER_PREFIX) && !wanted.has(id)) await queue.removeJobScheduler(id);
  }
  for (const platform of platforms) {
    await queue.upsertJobScheduler(SCHEDULER_PREFIX + platform, { every: everyMs }, {
      name: "pull",
      data: { platform },
      opts: { attempts: 1, removeOnComplete: { count: 200 }, removeOnFail: { count: 200 } },
    });
  }
}
