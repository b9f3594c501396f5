import { Redis } from "ioredis";
import { destinationSettings, loadConfig, type Config } from "../config/env.js";
import { RedisLedger } from "../ledger/redis-ledger.js";
import { DESTINATIONS, UserError, type Destination } from "../model/index.js";
import { createLogger, type Logger } from "../runtime/logger.js";
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
