import { Queue } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { bullPrefix } from "../../src/queue/jobs.js";
import { createLogger } from "../../src/runtime/logger.js";
import { ManualClock } from "../../src/pull/clock.js";
import type { PageContext } from "../../src/pull/pull.js";
import { PULL_QUEUE, startScheduledPull, type ScheduledPull } from "../../src/pull/schedule.js";
import type { PullConfig } from "../../src/pull/settings.js";
import type { PulledItem } from "../../src/pull/source.js";
import { startLangfuseStandin, type LangfuseStandin } from "../../src/pull/standin/index.js";
import { WatermarkStore } from "../../src/pull/watermark.js";
import { testRedis, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { HOUR, MINUTE, generations } from "./helpers.js";

const W0 = Date.parse("2026-11-20T09:00:00Z");
const SEED = generations(50, W0, 6 * MINUTE);

/** Polls `check` until it holds; the deadline only bounds a broken run, nothing is timed. */
async function until(check: () => Promise<boolean>, what: string, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("startScheduledPull: a BullMQ job scheduler in the worker (real Redis)", () => {
  const redis = testRedis();
  let standin: LangfuseStandin | undefined;
  const running: ScheduledPull[] = [];
  const queues: Queue[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
    await Promise.all(queues.splice(0).map((q) => q.close()));
    await standin?.stop();
    standin = undefined;
  });

  it("two workers on one Redis: pulls never overlap, every item is handed off once, the watermark reaches now − lag", async () => {
    const clock = new ManualClock("2026-11-20T14:07:00Z");
    standin = await startLangfuseStandin({ now: () => clock.now(), observations: SEED });
    const prefix = uniquePrefix("sched");
    const config: PullConfig = {
      langfuse: { host: standin.url, publicKey: standin.publicKey, secretKey: standin.secretKey, traces: false },
      langsmith: null,
      lagMs: 15 * MINUTE,
      windowMs: HOUR,
      everyMs: 100,
      requestsPerMinute: 60_000,
      startAt: W0,
      spoolDir: "unused",
      destination: null,
    };
    const queue = new Queue(PULL_QUEUE, { connection: redis, prefix: bullPrefix(prefix) });
    queues.push(queue);

    const handed: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let first = true;
    const sink = {
      page: async (items: PulledItem[], _ctx: PageContext) => {
        if (first) {
          first = false;
          // Hold the first pull until another scheduled run has found the stream busy.
          await gate;
        }
        handed.push(...items.map((i) => (i.raw as { id: string }).id));
      },
    };
    for (let i = 0; i < 2; i++) {
      running.push(
        await startScheduledPull({
          redisUrl: testRedisUrl(),
          queuePrefix: prefix,
          pull: config,
          sinkFor: () => sink,
          logger: createLogger("silent"),
          clock,
          tuning: { burst: 1e9 },
        }),
      );
    }
    await until(async () => (await queue.getJobs(["completed"])).some((j) => (j.returnvalue as { status?: string } | null)?.status === "busy"), "a busy run");
    release();

    const store = new WatermarkStore(redis, prefix);
    const stream = { platform: "langfuse" as const, project: standin.projectId };
    const target = clock.now() - config.lagMs;
    await until(async () => (await store.get(stream)) === target, "the watermark");
    // A few more runs come and go with nothing left to read.
    await until(async () => (await queue.getJobs(["completed"])).filter((j) => (j.returnvalue as { status?: string } | null)?.status === "up-to-date").length >= 2, "idle runs");

    expect(handed.length).toBe(new Set(handed).size);
    expect(handed.sort()).toEqual(SEED.filter((o) => Date.parse(o.startTime as string) < target).map((o) => o.id as string).sort());
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers.map((s) => s.id ?? s.key)).toEqual(["pull:langfuse"]);
  });

  it("removes the scheduler of a platform that is no longer configured", async () => {
    const prefix = uniquePrefix("sched");
    const queue = new Queue(PULL_QUEUE, { connection: redis, prefix: bullPrefix(prefix) });
    queues.push(queue);
    await queue.upsertJobScheduler("pull:langsmith", { every: 3_600_000 }, { name: "pull", data: { platform: "langsmith" } });
    const clock = new ManualClock("2026-11-20T14:07:00Z");
    standin = await startLangfuseStandin({ now: () => clock.now() });
    running.push(
      await startScheduledPull({
        redisUrl: testRedisUrl(),
        queuePrefix: prefix,
        pull: {
          langfuse: { host: standin.url, publicKey: standin.publicKey, secretKey: standin.secretKey, traces: true },
          langsmith: null, lagMs: 0, windowMs: HOUR, everyMs: 3_600_000, requestsPerMinute: 60, startAt: null, spoolDir: "unused", destination: null,
        },
        sinkFor: () => ({ page: async () => undefined }),
        logger: createLogger("silent"),
        clock,
      }),
    );
    expect((await queue.getJobSchedulers()).map((s) => s.id ?? s.key)).toEqual(["pull:langfuse"]);
  });
});
