import { readFileSync } from "node:fs";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import calculateSlot from "cluster-key-slot";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";

/**
 * The one place tracebill opens Redis connections: a single server (`redis://`, `rediss://` with
 * TLS, user/password) or a Redis Cluster. Every setting travels in one connection string (what
 * `Config.redisUrl` holds): REDIS_URL, with REDIS_TLS_CA_FILE, REDIS_TLS_INSECURE and
 * REDIS_CLUSTER_NODES folded in as query parameters by the config loader, so any code that has
 * the string opens the same kind of connection.
 */

export interface RedisNode {
  host: string;
  port: number;
}

export interface RedisTarget {
  /** rediss:// */
  tls: boolean;
  username?: string;
  password?: string;
  db: number;
  host: string;
  port: number;
  /** PEM bundle of the CA that signed the server certificate (default: Node's trusted CAs). */
  caFile?: string;
  /** Skip certificate verification (tests, never production). */
  insecure: boolean;
  /** Seed nodes of a Redis Cluster; empty for a single server. */
  clusterNodes: RedisNode[];
}

const PARAMS = { caFile: "tls_ca_file", insecure: "tls_insecure", cluster: "cluster_nodes" } as const;

/** "host:port,host:port" (IPv6 as [addr]:port) → nodes; throws on a malformed entry. */
export function parseClusterNodes(list: string): RedisNode[] {
  return list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(entry);
      const port = Number(m?.[3]);
      if (!m || port < 1 || port > 65535) throw new Error(`"${entry}" is not host:port`);
      return { host: (m[1] ?? m[2])!, port };
    });
}

/** REDIS_URL plus the TLS / cluster settings, as the single connection string tracebill passes around. */
export function redisConnectionString(url: string, extra: { caFile?: string; insecure?: boolean; clusterNodes?: string } = {}): string {
  if (!extra.caFile && !extra.insecure && !extra.clusterNodes) return url;
  const u = new URL(url);
  if (extra.caFile) u.searchParams.set(PARAMS.caFile, extra.caFile);
  if (extra.insecure) u.searchParams.set(PARAMS.insecure, "1");
  if (extra.clusterNodes) u.searchParams.set(PARAMS.cluster, extra.clusterNodes);
  return u.toString();
}

export function parseRedisTarget(connection: string): RedisTarget {
  const u = new URL(connection);
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new Error(`not a redis:// or rediss:// URL`);
  const q = u.searchParams;
  const db = u.pathname && u.pathname !== "/" ? Number(u.pathname.slice(1)) : 0;
  return {
    tls: u.protocol === "rediss:",
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: Number.isInteger(db) ? db : 0,
    host: u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    ...(q.get(PARAMS.caFile) ? { caFile: q.get(PARAMS.caFile)! } : {}),
    insecure: q.get(PARAMS.insecure) === "1",
    clusterNodes: q.get(PARAMS.cluster) ? parseClusterNodes(q.get(PARAMS.cluster)!) : [],
  };
}

function tlsOptions(t: RedisTarget): TlsOptions | undefined {
  if (!t.tls) return undefined;
  return {
    ...(t.caFile ? { ca: readFileSync(t.caFile) } : {}),
    ...(t.insecure ? { rejectUnauthorized: false } : {}),
  };
}

export interface RedisClientOptions {
  /**
   * null for BullMQ connections: a worker blocks on Redis and must not give up on a command while
   * Redis restarts or a cluster fails over. A number for CLI commands, which should fail fast.
   */
  maxRetriesPerRequest: number | null;
  lazyConnect?: boolean;
}

/**
 * A client for the connection string. A Cluster answers the same commands as a single server
 * (every multi-key command and script of tracebill keeps its keys in one hash slot), so both are
 * handed out typed as `Redis`; `isCluster(client)` tells them apart where it matters (SCAN,
 * pipelines spanning slots).
 */
export function createRedisClient(connection: string, opts: RedisClientOptions): Redis {
  const t = parseRedisTarget(connection);
  const tls = tlsOptions(t);
  const common: RedisOptions = {
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(tls ? { tls } : {}),
    maxRetriesPerRequest: opts.maxRetriesPerRequest,
    enableReadyCheck: true,
  };
  if (t.clusterNodes.length > 0) {
    const clusterOptions: ClusterOptions = {
      redisOptions: common,
      enableReadyCheck: true,
      lazyConnect: opts.lazyConnect ?? false,
      // Nodes announce their own addresses; TLS certificates are checked against those.
      ...(opts.maxRetriesPerRequest === null ? {} : { clusterRetryStrategy: (times: number) => (times > 3 ? null : 100 * times) }),
    };
    return new Cluster(t.clusterNodes, clusterOptions) as unknown as Redis;
  }
  return new Redis({ ...common, host: t.host, port: t.port, db: t.db, lazyConnect: opts.lazyConnect ?? false });
}

export function isCluster(client: Redis): boolean {
  return (client as unknown as { isCluster?: boolean }).isCluster === true;
}

/** The connection string for people: no password, the TLS and cluster settings spelled out. */
export function describeRedisTarget(connection: string): string {
  try {
    const t = parseRedisTarget(connection);
    const auth = t.username || t.password ? `${t.username ?? ""}${t.password ? ":***" : ""}@` : "";
    const scheme = t.tls ? "rediss" : "redis";
    const where = t.clusterNodes.length
      ? `${scheme}://${auth}cluster(${t.clusterNodes.map((n) => `${n.host}:${n.port}`).join(",")})`
      : `${scheme}://${auth}${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}${t.db ? `/${t.db}` : ""}`;
    const notes = [t.caFile ? `CA ${t.caFile}` : "", t.insecure ? "certificate NOT verified" : ""].filter(Boolean);
    return notes.length ? `${where} (${notes.join(", ")})` : where;
  } catch {
    return "(unparseable URL)";
  }
}

// ── pipelines on a cluster ───────────────────────────────────────────────────────────────────

/** The Redis Cluster hash slot of a key, as ioredis computes it (the cluster-key-slot package). */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

type Pipeline = ReturnType<Redis["pipeline"]>;

/**
 * `redis.pipeline()` that also works on a Redis Cluster, where one pipeline may only hold keys
 * served by one node: there, the commands (each keyed by its first argument, as every command
 * pipelined by tracebill is) are split into one pipeline per node, run side by side, and the
 * results come back in the order the commands were queued. Commands on the same key keep their
 * order. On a single server this is `redis.pipeline()` itself.
 */
export function slotSafePipeline(redis: Redis): Pipeline {
  if (!isCluster(redis)) return redis.pipeline();
  const queued: [string, unknown[]][] = [];
  const exec = async (): Promise<[Error | null, unknown][]> => {
    const groupsBySlot = (redis as unknown as { _groupsBySlot?: number[] })._groupsBySlot;
    const groups = new Map<string, number[]>();
    queued.forEach(([, args], i) => {
      const slot = keySlot(String(args[0]));
      const group = groupsBySlot?.[slot] !== undefined ? `g${groupsBySlot[slot]}` : `s${slot}`;
      const list = groups.get(group) ?? [];
      list.push(i);
      groups.set(group, list);
    });
    const out: [Error | null, unknown][] = new Array(queued.length);
    await Promise.all(
      [...groups.values()].map(async (idx) => {
        const p = redis.pipeline() as unknown as Record<string, (...a: unknown[]) => unknown> & Pipeline;
        for (const i of idx) p[queued[i]![0]]!(...queued[i]![1]);
        const res = (await p.exec()) ?? [];
        idx.forEach((i, k) => (out[i] = res[k] ?? [new Error("no reply"), null]));
      }),
    );
    return out;
  };
  const proxy: Pipeline = new Proxy({} as Pipeline, {
    get(_t, prop) {
      if (prop === "exec") return exec;
      if (prop === "length") return queued.length;
      if (typeof prop !== "string" || prop === "then") return undefined;
      return (...args: unknown[]) => {
        queued.push([prop, args]);
        return proxy;
      };
    },
  });
  return proxy;
}
