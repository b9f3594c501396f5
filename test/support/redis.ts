import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, inject } from "vitest";

/** The suite's real redis-server (started in global-setup). */
export function testRedisUrl(): string {
  return inject("redisUrl");
}

/** A key prefix no other test uses, so files can run in parallel on one Redis. */
export function uniquePrefix(label = "t"): string {
  return `tbtest-${label}-${randomBytes(4).toString("hex")}`;
}

/**
 * A connection to the suite's Redis for the enclosing `describe` (or file), closed after it.
 * It connects on its first command.
 */
export function testRedis(): Redis {
  const redis = new Redis(testRedisUrl(), { lazyConnect: true });
  afterAll(async () => {
    if (redis.status === "wait") redis.disconnect();
    else await redis.quit();
  });
  return redis;
}
