import type { TestProject } from "vitest/node";
import { startRedisServer, type RedisProcess } from "../../src/runtime/redis-server.js";

let redis: RedisProcess | undefined;

/** One real redis-server for the whole run, on a free port; tests isolate by key prefix. */
export async function setup(project: TestProject): Promise<void> {
  redis = await startRedisServer();
  project.provide("redisUrl", redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
