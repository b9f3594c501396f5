import type { Redis } from "ioredis";
import { destinationSettings, loadConfig, type Config } from "../config/env.js";
import { RedisLedger } from "../ledger/redis-ledger.js";
import { DESTINATIONS, UserError, type Destination } from "../model/index.js";
import { createLogger, type Logger } from "../runtime/logger.js";
import { createRedisClient, describeRedisTarget } from "../runtime/redis-client.js";
import { SyncProgress } from "../queue/progress.js";
import type { SyncSummary } from "../reconcile/reconcile.js";
import { createSink } from "../sinks/registry.js";
import type { BillingSink } from "../sinks/sink.js";

export function parseDestination(v: string): Destination {
  if ((DESTINATIONS as readonly string[]).includes(v)) return v as Destination;
  throw new UserError(`--destination must be one of ${DESTINATIONS.join(", ")} (got "${v}")`);
}

export function sinkFor(config: Config, d: Destination): BillingSink {
  const { url, apiKey } = destinationSettings(config, d);
  return createSink(d, { url, apiKey, timeoutMs: config.httpTimeoutMs });
}

/** Every destination whose URL and key are both set. */
/** Both the destination's URL and key are set (half a pair is reported by `config check`, not used). */
export function isConfigured(config: Config, d: Destination): boolean {
  return d === "lago" ? Boolean(config.lago.apiUrl && config.lago.apiKey) : Boolean(config.openmeter.url && config.openmeter.apiKey);
}

export function configuredSinks(config: Config): Partial<Record<Destination, BillingSink>> {
  const out: Partial<Record<Destination, BillingSink>> = {};
  for (const d of DESTINATIONS) if (isConfigured(config, d)) out[d] = sinkFor(config, d);
  return out;
}

/** The last week's syncs to a destination, as the report shows them. */
export async function recentSyncs(redis: Redis, config: Config, destination: Destination): Promise<SyncSummary[]> {
  return new SyncProgress(redis, config.queuePrefix).summaries(destination, new Date(Date.now() - 7 * 86_400_000));
}

export function ledgerFor(redis: Redis, config: Config): RedisLedger {
  return new RedisLedger(redis, { prefix: config.queuePrefix, ttlSeconds: config.ledgerTtlSeconds });
}

/**
 * A command's Redis connection (single server or Cluster, TLS and auth as configured), connected:
 * a UserError (exit 2) naming REDIS_URL when Redis cannot be reached or refuses the credentials.
 */
export async function connectRedis(config: Config): Promise<Redis> {
  const redis = createRedisClient(config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: true });
  // Connection errors surface through connect() below; the last one says why (TLS, auth).
  let last: Error | undefined;
  redis.on("error", (e: Error) => (last = e));
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    redis.disconnect();
    const why = [e, last].map((x) => (x instanceof Error ? x.message : "")).find((m) => /NOAUTH|WRONGPASS|AUTH|certificate|self.signed|SSL|TLS|EPROTO/i.test(m));
    const because = why ? ` (${why.split("\n")[0]})` : "";
    throw new UserError(`Cannot reach Redis at REDIS_URL (${describeRedisTarget(config.redisUrl)})${because}. Start one (redis-server) or set REDIS_URL.`);
  }
  return redis;
}


export function baseContext(): { config: Config; logger: Logger } {
  const config = loadConfig();
  return { config, logger: createLogger(config.logLevel) };
}
