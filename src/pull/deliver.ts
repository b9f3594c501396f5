import type { Redis } from "ioredis";
import type { Config } from "../config/env.js";
import type { Destination } from "../model/index.js";
import { enqueueSync } from "../queue/enqueue.js";
import { redisConnection } from "../queue/worker.js";
import type { Logger } from "../runtime/logger.js";
import type { Clock } from "./clock.js";
import type { ApiTuning } from "./http.js";
import { startScheduledPull, type ScheduledPull } from "./schedule.js";
import { configuredPlatforms, type PullConfig } from "./settings.js";
import { spoolSink, type SpoolSink, type SpooledWindow } from "./spool.js";

/**
 * The end-to-end path available today: each pulled window becomes spool files, and one ingest
 * job per window (the existing `sync`) takes them to the destination. The job is enqueued before
 * the watermark moves, so a crash in between re-sends a window the ledger already holds.
 */
export function spoolAndIngestSink(deps: {
  redis: Redis;
  config: Config;
  destination: Destination;
  mappingPath: string;
  spoolDir: string;
  onEnqueued?: (syncId: string, w: SpooledWindow) => void;
}): SpoolSink {
  return spoolSink({
    dir: deps.spoolDir,
    onWindowFiles: async (w) => {
      const syncId = await enqueueSync(deps.redis, deps.config, { destination: deps.destination, inputs: w.files, mappingPath: deps.mappingPath });
      deps.onEnqueued?.(syncId, w);
    },
  });
}

/**
 * What `startWorker` calls: when TRACEBILL_PULL_DESTINATION is set and a platform is configured,
 * pull it every TRACEBILL_PULL_EVERY_MINUTES into the spool and enqueue one ingest job per window.
 * Null when pull mode is off. Owns its Redis connection; close() releases it.
 */
export async function startScheduledPullToIngest(deps: {
  config: Config;
  pull: PullConfig;
  logger: Logger;
  clock?: Clock;
  tuning?: Partial<ApiTuning>;
}): Promise<ScheduledPull | null> {
  const { config, pull, logger } = deps;
  const destination = pull.destination;
  if (!destination || configuredPlatforms(pull).length === 0) return null;
  const redis = redisConnection(config.redisUrl);
  const scheduled = await startScheduledPull({
    redisUrl: config.redisUrl,
    queuePrefix: config.queuePrefix,
    pull,
    logger,
    clock: deps.clock,
    tuning: { timeoutMs: config.httpTimeoutMs, ...deps.tuning },
    sinkFor: () =>
      spoolAndIngestSink({
        redis,
        config,
        destination,
        mappingPath: config.mappingsDir,
        spoolDir: pull.spoolDir,
        onEnqueued: (syncId, w) => logger.info({ syncId, destination, files: w.files.length, dir: w.dir }, "pulled window enqueued for ingest"),
      }),
  });
  return {
    close: async () => {
      await scheduled.close();
      await redis.quit().catch(() => undefined);
    },
  };
}
