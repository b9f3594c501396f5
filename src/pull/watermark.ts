import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { StreamKey } from "./source.js";

/**
 * Per (platform, project) in Redis: the watermark W ("everything that started before W has been
 * read and handed off") and a lease, so one puller at a time owns the stream. W moves only by
 * compare-and-set under the lease, after a window is handed off; a puller that dies mid-window
 * leaves W where it was, and the next one reads that window again from its start.
 */

/** The lease expired or was taken over (a stalled puller): stop without advancing. */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

/** W was not where this puller left it: someone moved it; never overwrite. */
export class WatermarkConflictError extends Error {
  override name = "WatermarkConflictError";
}

const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** KEYS: lock, watermark hash. ARGV: token, expected ('' = none yet), new value, lease ttl ms, updatedAt. */
const ADVANCE_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local cur = redis.call('HGET', KEYS[2], 'at')
if (ARGV[2] == '' and cur) or (ARGV[2] ~= '' and cur ~= ARGV[2]) then return -2 end
redis.call('HSET', KEYS[2], 'at', ARGV[3], 'updatedAt', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

export class WatermarkStore {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  /** Both keys share one hash tag, so the Lua scripts work on Redis Cluster. */
  keys(stream: StreamKey): { lock: string; watermark: string; unfinished: string } {
    const tag = `{pull:${stream.platform}:${encodeURIComponent(stream.project)}}`;
    return { lock: `${this.prefix}:${tag}:lock`, watermark: `${this.prefix}:${tag}:watermark`, unfinished: `${this.prefix}:${tag}:unfinished` };
  }

  /**
   * Items handed off while the platform had not finished them (a LangSmith run still pending):
   * remembered with when they were first seen, so later pulls read them again by id.
   */
  async addUnfinished(stream: StreamKey, ids: string[], seenAt: number): Promise<void> {
    if (!ids.length) return;
    await this.redis.zadd(this.keys(stream).unfinished, "NX", ...ids.flatMap((id) => [seenAt, id]));
  }

  /** Unfinished items, oldest first, with when they were first seen (epoch ms). */
  async unfinished(stream: StreamKey): Promise<{ id: string; seenAt: number }[]> {
    const raw = await this.redis.zrange(this.keys(stream).unfinished, 0, -1, "WITHSCORES");
    const out: { id: string; seenAt: number }[] = [];
    for (let i = 0; i < raw.length; i += 2) out.push({ id: raw[i]!, seenAt: Number(raw[i + 1]) });
    return out;
  }

  async removeUnfinished(stream: StreamKey, ids: string[]): Promise<void> {
    if (ids.length) await this.redis.zrem(this.keys(stream).unfinished, ...ids);
  }

  /** Every stream whose watermark ever moved (platform␟project), for `tracebill status`. */
  private get index(): string {
    return `${this.prefix}:pull:streams`;
  }

  /** The streams pulled so far, each with its watermark and when it last moved. */
  async streams(): Promise<{ platform: string; project: string; watermark: number | null; updatedAt: string | null }[]> {
    const members = (await this.redis.smembers(this.index)).sort();
    const out = [];
    for (const m of members) {
      const [platform = "", project = ""] = m.split("\u001f");
      const h = await this.redis.hmget(this.keys({ platform: platform as StreamKey["platform"], project }).watermark, "at", "updatedAt");
      out.push({ platform, project, watermark: h[0] === null || h[0] === undefined ? null : Number(h[0]), updatedAt: h[1] ?? null });
    }
    return out;
  }

  /** Epoch ms, or null when the stream was never pulled. */
  async get(stream: StreamKey): Promise<number | null> {
    const at = await this.redis.hget(this.keys(stream).watermark, "at");
    return at === null ? null : Number(at);
  }

  /** The stream's lease, or null while another puller holds it. */
  async acquire(stream: StreamKey, ttlMs: number): Promise<StreamLease | null> {
    const token = randomUUID();
    const keys = this.keys(stream);
    const ok = await this.redis.set(keys.lock, token, "PX", ttlMs, "NX");
    return ok === "OK" ? new StreamLease(this.redis, keys, token, ttlMs, { key: this.index, member: `${stream.platform}\u001f${stream.project}` }) : null;
  }
}

export class StreamLease {
  constructor(
    private readonly redis: Redis,
    private readonly keys: { lock: string; watermark: string },
    readonly token: string,
    private readonly ttlMs: number,
    /** Where the stream is listed once its watermark moved (another hash slot: a separate command). */
    private readonly index?: { key: string; member: string },
  ) {}

  /** Extends the lease; false when it is no longer ours. */
  async renew(): Promise<boolean> {
    return (await this.redis.eval(RENEW_LUA, 1, this.keys.lock, this.token, String(this.ttlMs))) === 1;
  }

  /** Throws LeaseLostError unless the lease is still ours (call before each hand-off). */
  async assertHeld(): Promise<void> {
    if (!(await this.renew())) throw new LeaseLostError("the pull lease expired or was taken over; stopping without moving the watermark");
  }

  /** W: expected → to, atomically, only while the lease is ours and W is still `expected`. */
  async advance(expected: number | null, to: number): Promise<void> {
    const r = await this.redis.eval(
      ADVANCE_LUA, 2, this.keys.lock, this.keys.watermark,
      this.token, expected === null ? "" : String(expected), String(to), String(this.ttlMs), new Date().toISOString(),
    );
    if (r === -1) throw new LeaseLostError("the pull lease expired or was taken over; the watermark was not moved");
    if (r === -2) throw new WatermarkConflictError("the watermark moved under this puller; not overwriting it");
    if (this.index) await this.redis.sadd(this.index.key, this.index.member);
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE_LUA, 1, this.keys.lock, this.token);
  }
}
