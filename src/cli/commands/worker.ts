import { UserError, type Destination } from "../../model/index.js";
import { startOpsServer, type OpsServer } from "../../ops/http.js";
import { createMetrics } from "../../ops/metrics.js";
import { startScheduledPullToIngest } from "../../pull/deliver.js";
import { startScheduledReconcile } from "../../queue/reconcile-schedule.js";
import { redisConnection, startWorker } from "../../queue/worker.js";
import { describeRedisTarget } from "../../runtime/redis-client.js";
import { baseContext, configuredSinks, connectRedis, ledgerFor } from "../context.js";

/** Runs the BullMQ workers until SIGTERM/SIGINT, then drains in-flight jobs and exits 0. */
export async function workerCommand(): Promise<number> {
  const { config, logger } = baseContext();
  // The effective configuration, secrets masked by the logger (keys by name, URL passwords, configured values).
  logger.debug({ config }, "configuration");
  const sinks = configuredSinks(config);
  if (Object.keys(sinks).length === 0) {
    throw new UserError("No destination configured: set LAGO_API_URL and LAGO_API_KEY, and/or OPENMETER_URL and OPENMETER_API_KEY.");
  }
  const redis = await connectRedis(config);
  const ledger = ledgerFor(redis, config);
  // Once per destination: stop consulting pre-fingerprint ledger keys when none are left.
  for (const d of Object.keys(sinks) as Destination[]) await ledger.retireLegacyKeys(d);
  // This worker's own registry: per-stage counters, send latency, queue depths, process metrics.
  const metrics = createMetrics();
  const worker = await startWorker({ config, sinks, ledger, logger, metrics });
  const reconciling = config.reconcileCron
    ? await startScheduledReconcile({ config, connection: () => redisConnection(config.redisUrl), sinks, ledger, logger, metrics, schedule: { pattern: config.reconcileCron, days: config.reconcileDays } })
    : null;
  let http: OpsServer;
  try {
    http = await startOpsServer({
      host: config.http.host, port: config.http.port, metrics, redis, destinations: sinks, logger,
      ...(config.http.dashboard ? { dashboard: { ...config.http.dashboard, queues: worker.queues } } : {}),
    });
  } catch (e) {
    await reconciling?.close();
    await worker.close();
    await redis.quit();
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`Cannot serve HTTP on ${config.http.host}:${config.http.port}${code ? ` (${code})` : ""}: set HTTP_PORT / TRACEBILL_HTTP_HOST.`);
  }
  logger.info({ address: http.url, dashboard: config.http.dashboard ? `${http.url}/dashboard` : "off" }, "HTTP server listening: /healthz /readyz /metrics");
  if (reconciling) logger.info({ cron: config.reconcileCron, days: config.reconcileDays }, "scheduled reconciliation on");
  // Scheduled API pull, when TRACEBILL_PULL_DESTINATION and platform credentials are set.
  const pulling = await startScheduledPullToIngest({ config, pull: config.pull, logger });
  if (pulling) logger.info({ destination: config.pull.destination, everyMinutes: config.pull.everyMs / 60_000 }, "scheduled pull on");
  logger.info({ redis: describeRedisTarget(config.redisUrl) }, "tracebill worker running; SIGTERM to stop");
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
  await http.close();
  await redis.quit();
  logger.info("worker stopped");
  return 0;
}
