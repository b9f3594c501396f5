import { Redis } from "ioredis";
import { destinationSettings, loadConfig, type Config } from "../config/env.js";
import { RedisLedger } from "../ledger/redis-ledger.js";
import { DESTINATIONS, UserError, type Destination } from "../model/index.js";
import { createLogger, type Logger } from "../runtime/logger.js";
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
export function configuredSinks(config: Config): Partial<Record<Destination, BillingSink>> {
  const out: Partial<Record<Destination, BillingSink>> = {};
  if (config.lago.apiUrl && config.lago.apiKey) out.lago = sinkFor(config, "lago");
  if (config.openmeter.url && config.openmeter.apiKey) out.openmeter = sinkFor(config, "openmeter");
  return out;
}

/** The last week's syncs to a destination, as the report shows them. */
export async function recentSyncs(redis: Redis, config: Config, destination: Destination): Promise<SyncSummary[]> {
  const snaps = await new SyncProgress(redis, config.queuePrefix).recent(destination, new Date(Date.now() - 7 * 86_400_000));
  return snaps.map((s) => ({
    syncId: s.syncId, startedAt: s.startedAt, events: s.events, delivered: s.delivered, already: s.already,
    dead: s.dead, skipped: s.skipped, quarantined: s.quarantined, parked: s.parked,
    inputs: Object.entries(s.perInput).map(([input, i]) => ({ input, records: i.records, events: i.events, quarantined: i.quarantined, notes: i.notes ?? [] })),
  }));
}

export function ledgerFor(redis: Redis, config: Config): RedisLedger {
  return new RedisLedger(redis, { prefix: config.queuePrefix, ttlSeconds: config.ledgerTtlSeconds });
}

export async function connectRedis(config: Config): Promise<Redis> {
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: true });
  try {
    await redis.connect();
  } catch {
    redis.disconnect();
    throw new UserError(`Cannot reach Redis at REDIS_URL (${redactUrl(config.redisUrl)}). Start one (redis-server) or set REDIS_URL.`);
  }
  return redis;
}

/** Drops the password from a redis:// URL before it is printed. */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(unparseable URL)";
  }
}

export function baseContext(): { config: Config; logger: Logger } {
  const config = loadConfig();
  return { config, logger: createLogger(config.logLevel) };
}
