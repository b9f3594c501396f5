import { UserError, type Destination } from "../../model/index.js";
import { startScheduledPullToIngest } from "../../pull/deliver.js";
import { startScheduledReconcile } from "../../queue/reconcile-schedule.js";
import { redisConnection, startWorker } from "../../queue/worker.js";
import { baseContext, configuredSinks, connectRedis, ledgerFor, redactUrl } from "../context.js";

/** Runs the BullMQ workers until SIGTERM/SIGINT, then drains in-flight jobs and exits 0. */
export async function workerCommand(): Promise<number> {
  const { config, logger } = baseContext();
  const sinks = configuredSinks(config);
  if (Object.keys(sinks).length === 0) {
    throw new UserError("No destination configured: set LAGO_API_URL and LAGO_API_KEY, and/or OPENMETER_URL and OPENMETER_API_KEY.");
  }
  const redis = await connectRedis(config);
  const ledger = ledgerFor(redis, config);
  // Once per destination: stop consulting pre-fingerprint ledger keys when none are left.
  for (const d of Object.keys(sinks) as Destination[]) await ledger.retireLegacyKeys(d);
  const worker = await startWorker({ config, sinks, ledger, logger });
  const reconciling = config.reconcileCron
    ? await startScheduledReconcile({ config, connection: () => redisConnection(config.redisUrl), sinks, ledger, logger, schedule: { pattern: config.reconcileCron, days: config.reconcileDays } })
    : null;
  if (reconciling) logger.info({ cron: config.reconcileCron, days: config.reconcileDays }, "scheduled reconciliation on");
  // Scheduled API pull, when TRACEBILL_PULL_DESTINATION and platform credentials are set.
  const pulling = await startScheduledPullToIngest({ config, pull: config.pull, logger });
  if (pulling) logger.info({ destination: config.pull.destination, everyMinutes: config.pull.everyMs / 60_000 }, "scheduled pull on");
  logger.info({ redis: redactUrl(config.redisUrl) }, "tracebill worker running; SIGTERM to stop");
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, "shutting down: finishing in-flight jobs");
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  await pulling?.close();
  await reconciling?.close();
  await worker.close();
  await redis.quit();
  logger.info("worker stopped");
  return 0;
}
