import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { dlqList, dlqPurge, dlqRetry, dlqShow, type DlqDeps, type EnqueueRetry } from "../../src/cli/commands/dlq.js";
import { loadConfig, type Config } from "../../src/config/env.js";
import type { DeadLetter } from "../../src/ledger/ledger.js";
import { RedisLedger } from "../../src/ledger/redis-ledger.js";
import { UserError, idempotencyKey, type BillableEvent, type Destination } from "../../src/model/index.js";
import { enqueueRetry, waitForSync } from "../../src/queue/enqueue.js";
import { testRedis, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { startStack, type Stack } from "../support/stack.js";

function ev(n: number, customer: string, value = 10 + n): BillableEvent {
  const recordId = `run-${n}-${randomUUID()}`;
  return {
    id: idempotencyKey({ platform: "langsmith", recordId, mapping: "llm-tokens", metric: "llm_tokens", discriminator: "input", split: 0 }),
    customer, metric: "llm_tokens", value, timestamp: "2026-11-20T10:00:00.000Z",
    properties: { model: "gpt-4o", type: "input" },
    source: { platform: "langsmith", record_id: recordId, trace_id: `trace-${n}` },
    mapping: "llm-tokens",
  };
}

class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const NO_SUB = "customer initech has no active subscription";

describe("tracebill dlq (command functions)", () => {
  const redis = testRedis();
  let config: Config;
  let ledger: RedisLedger;
  let out: Capture;
  let err: Capture;
  let enqueued: { destination: Destination; events: BillableEvent[] }[];
  let deps: DlqDeps;
  let events: BillableEvent[];


  const setup = async (enqueueRetry?: EnqueueRetry) => {
    config = { ...loadConfig({ LOG_LEVEL: "silent" }), redisUrl: testRedisUrl(), queuePrefix: uniquePrefix("dlqcli") };
    ledger = new RedisLedger(redis, { prefix: config.queuePrefix, ttlSeconds: config.ledgerTtlSeconds });
    out = new Capture();
    err = new Capture();
    enqueued = [];
    deps = {
      redis, config, out, err,
      enqueueRetry: enqueueRetry ?? (async (destination, evs) => {
        enqueued.push({ destination, events: evs });
        return `job-${enqueued.length}`;
      }),
    };
    events = [ev(1, "initech"), ev(2, "initech"), ev(3, "acme"), ev(4, "acme")];
    const letters: DeadLetter[] = [
      { event: events[0]!, reason: NO_SUB, at: "2026-11-20T10:00:01.000Z", attempts: 1 },
      { event: events[1]!, reason: NO_SUB, at: "2026-11-20T10:00:02.000Z", attempts: 1 },
      { event: events[2]!, reason: "timestamp: invalid_format", at: "2026-11-20T10:00:03.000Z", attempts: 1 },
      { event: events[3]!, reason: "gave up after 10 attempts: HTTP 503", at: "2026-11-20T10:00:04.000Z", attempts: 10 },
    ];
    await ledger.deadLetter("lago", letters);
  };

  it("list: a table of letters (source record ids, reasons) and counts by reason; filters; JSON", async () => {
    await setup();
    expect(await dlqList(deps, { destination: "lago" })).toBe(0);
    for (const e of events) {
      expect(out.text).toContain(e.id);
      expect(out.text).toContain(e.source.record_id);
    }
    expect(out.text).toContain("4 of 4 dead letters for lago");
    expect(out.text).toMatch(/customer initech has no active subscription\s*│\s*2/);

    out.text = "";
    expect(await dlqList(deps, { destination: "lago", reason: "SUBSCRIPTION", json: true })).toBe(0);
    const doc = JSON.parse(out.text);
    expect(doc).toMatchObject({ destination: "lago", total: 2, shown: 2, byReason: { [NO_SUB]: 2 } });
    expect(doc.letters.map((l: DeadLetter) => l.event.id)).toEqual([events[0]!.id, events[1]!.id]);
    expect(doc.letters[0]).toMatchObject({ reason: NO_SUB, attempts: 1, times: 1, retries: 0 });

    out.text = "";
    await dlqList(deps, { destination: "lago", customer: "acme", limit: "1" });
    expect(out.text).toContain("1 of 2 dead letters for lago");
    expect(out.text).toContain(events[2]!.id);
    expect(out.text).not.toContain(events[3]!.id);

    out.text = "";
    await dlqList(deps, { destination: "openmeter" });
    expect(out.text).toContain("no dead letters for openmeter");
    await expect(dlqList(deps, { destination: "stripe" })).rejects.toThrow(UserError);
    await expect(dlqList(deps, { destination: "lago", limit: "0" })).rejects.toThrow(/--limit/);
  });

  it("show: the full event with reason, time and attempts; exit 1 when absent", async () => {
    await setup();
    expect(await dlqShow(deps, events[3]!.id, { destination: "lago" })).toBe(0);
    expect(out.text).toMatch(/reason\s+gave up after 10 attempts: HTTP 503/);
    expect(out.text).toMatch(/attempts\s+10/);
    expect(out.text).toMatch(/dead-lettered\s+2026-11-20T10:00:04.000Z/);
    expect(out.text).toContain(`"record_id": "${events[3]!.source.record_id}"`);
    out.text = "";
    expect(await dlqShow(deps, events[3]!.id, { destination: "lago", json: true })).toBe(0);
    expect(JSON.parse(out.text)).toMatchObject({ destination: "lago", event: events[3], attempts: 10, times: 1 });
    expect(await dlqShow(deps, "tb_nope", { destination: "lago" })).toBe(1);
    expect(err.text).toContain("no dead letter tb_nope for lago");
  });

  it("retry: hands the chosen letters to the deliver queue and takes them out of the list", async () => {
    await setup();
    await expect(dlqRetry(deps, [], { destination: "lago" })).rejects.toThrow(/--all/);
    expect(await dlqRetry(deps, [events[2]!.id], { destination: "lago" })).toBe(0);
    expect(enqueued).toEqual([{ destination: "lago", events: [events[2]] }]);
    expect(out.text).toContain("handed 1 dead letter back for delivery to lago (job-1)");

    out.text = "";
    expect(await dlqRetry(deps, [], { destination: "lago", reason: "subscription", json: true })).toBe(0);
    expect(JSON.parse(out.text)).toMatchObject({ destination: "lago", retried: 2, ids: [events[0]!.id, events[1]!.id], jobs: ["job-2"] });
    expect(await dlqRetry(deps, [events[0]!.id, events[3]!.id], { destination: "lago" })).toBe(1);
    expect(err.text).toContain(events[0]!.id);
    expect((await ledger.listDeadLetters("lago")).total).toBe(0);
    expect(enqueued.flatMap((e) => e.events.map((x) => x.id)).sort()).toEqual(events.map((e) => e.id).sort());
  });

  it("retry: when handing on fails, the letters go back into the list untouched", async () => {
    await setup(async () => {
      throw new Error("queue unavailable");
    });
    await expect(dlqRetry(deps, [], { destination: "lago", all: true })).rejects.toThrow(/after 0 of 4; the other 4 are back in the list: queue unavailable/);
    const list = await ledger.listDeadLetters("lago");
    expect(list.total).toBe(4);
    expect(list.letters.every((l) => l.retries === 0)).toBe(true);
  });

  it("purge: chosen or all, with the count; refuses no selection", async () => {
    await setup();
    await expect(dlqPurge(deps, [], { destination: "lago" })).rejects.toThrow(UserError);
    await expect(dlqPurge(deps, [events[0]!.id], { destination: "lago", all: true })).rejects.toThrow(/--all cannot/);
    expect(await dlqPurge(deps, [events[0]!.id], { destination: "lago" })).toBe(0);
    expect(out.text).toContain("purged 1 dead letter for lago");
    out.text = "";
    expect(await dlqPurge(deps, [], { destination: "lago", customer: "acme", json: true })).toBe(0);
    expect(JSON.parse(out.text)).toEqual({ destination: "lago", purged: 2 });
    expect(await dlqPurge(deps, ["tb_gone"], { destination: "lago" })).toBe(1);
    out.text = "";
    expect(await dlqPurge(deps, [], { destination: "lago", all: true })).toBe(0);
    expect(out.text).toContain("purged 1 dead letter for lago");
  });
});

/** `tracebill dlq retry`'s real enqueue (src/queue/enqueue.ts), remembering the syncs it starts. */
function queueRetry(conn: Redis, config: Config): EnqueueRetry & { syncs: string[] } {
  const syncs: string[] = [];
  const fn = async (destination: Destination, events: BillableEvent[]) => {
    const syncId = await enqueueRetry(conn, config, destination, events);
    syncs.push(syncId);
    return syncId;
  };
  return Object.assign(fn, { syncs });
}

describe("tracebill dlq retry through the real deliver queue", () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("delivers what is accepted now; what is refused again returns to the list with its retry counted", async () => {
    stack = await startStack({ customers: ["acme"], maxAttempts: 2 });
    const { ledger, redis, config } = stack;
    const good = ev(1, "acme", 42);
    const bad = ev(2, "initech", 7);
    await ledger.deadLetter("lago", [
      { event: good, reason: "customer acme has no active subscription", at: "2026-11-20T10:00:00.000Z", attempts: 1 },
      { event: bad, reason: NO_SUB, at: "2026-11-20T10:00:01.000Z", attempts: 1 },
    ]);
    const enqueueRetry = queueRetry(redis, config);
    const out = new Capture();
    expect(await dlqRetry({ redis, config, enqueueRetry, out, err: new Capture() }, [], { destination: "lago", all: true })).toBe(0);
    expect(enqueueRetry.syncs).toHaveLength(1);
    const snap = await waitForSync(redis, config, enqueueRetry.syncs[0]!, undefined, 50);
    expect(snap).toMatchObject({ events: 2, delivered: 1, dead: 1 });

    expect(await ledger.filterUndelivered("lago", [good.id, bad.id])).toEqual([bad.id]);
    const list = await ledger.listDeadLetters("lago");
    expect(list.letters.map((l) => l.event.id)).toEqual([bad.id]);
    expect(list.letters[0]).toMatchObject({ retries: 1, event: bad });
    expect(list.letters[0]?.reason).toMatch(/subscription/i);
  });
});
