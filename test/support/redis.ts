import { randomBytes } from "node:crypto";
import { inject } from "vitest";

/** The suite's real redis-server (started in global-setup). */
export function testRedisUrl(): string {
  return inject("redisUrl");
}

/** A key prefix no other test uses, so files can run in parallel on one Redis. */
export function uniquePrefix(label = "t"): string {
  return `tbtest-${label}-${randomBytes(4).toString("hex")}`;
}
