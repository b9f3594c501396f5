import { readFileSync } from "node:fs";
import { z } from "zod";
import { UserError, type Destination } from "../model/index.js";
import { PULL_ENV_VARIABLES, parsePullEnv, pullEnvSchema, type PullConfig } from "../pull/settings.js";
import { parseClusterNodes, redisConnectionString } from "../runtime/redis-client.js";

/**
 * Every setting tracebill reads from the environment, parsed once. An invalid value stops
 * start-up with a message naming the variable (never echoing secret values).
 */
const url = (name: string) =>
  z.string().trim().refine((v) => {
    try {
      const u = new URL(v);
      return ["http:", "https:"].includes(u.protocol);
    } catch {
      return false;
    }
  }, `${name} must be an absolute http(s) URL`);

const redisUrl = z.string().trim().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === "redis:" || u.protocol === "rediss:") && Boolean(u.hostname);
  } catch {
    return false;
  }
}, "REDIS_URL must be a redis:// or rediss:// URL (redis[s]://[[user]:password@]host[:port][/db])");

const positiveInt = z.coerce.number().int().positive();
const flag = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes");

const schema = z.object({
  REDIS_URL: redisUrl.default("redis://127.0.0.1:6379"),
  REDIS_TLS_CA_FILE: z.string().trim().min(1).optional(),
  REDIS_TLS_INSECURE: flag.default(false),
  REDIS_CLUSTER_NODES: z.string().trim().refine((v) => {
    try {
      return parseClusterNodes(v).length > 0;
    } catch {
      return false;
    }
  }, "a comma-separated list of host:port").optional(),
  LAGO_API_URL: url("LAGO_API_URL").optional(),
  LAGO_API_KEY: z.string().min(1).optional(),
  OPENMETER_URL: url("OPENMETER_URL").optional(),
  OPENMETER_API_KEY: z.string().min(1).optional(),
  MAPPINGS_DIR: z.string().min(1).default("./mappings"),
  TRACEBILL_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_:-]+$/, "letters, digits, _ : - only").default("tracebill"),
  TRACEBILL_DELIVERY_CONCURRENCY: positiveInt.max(64).default(4),
  TRACEBILL_DELIVERY_RATE_PER_SECOND: positiveInt.default(50),
  TRACEBILL_MAX_ATTEMPTS: positiveInt.max(100).default(10),
  TRACEBILL_BACKOFF_MS: positiveInt.default(1000),
  TRACEBILL_LEDGER_TTL_DAYS: positiveInt.default(45),
  TRACEBILL_HTTP_TIMEOUT_MS: positiveInt.default(15000),
  TRACEBILL_JOB_LOCK_MS: positiveInt.min(1000).default(30000),
  TRACEBILL_REPORTS_DIR: z.string().min(1).default("./reports"),
  TRACEBILL_RECONCILE_CRON: z.string().trim().regex(/^(\S+\s+){4,5}\S+$/, "a cron pattern such as '0 6 * * *'").optional(),
  TRACEBILL_RECONCILE_DAYS: positiveInt.max(366).default(2),
  TRACEBILL_CONTEXT_TTL_HOURS: positiveInt.default(72),
  TRACEBILL_PARK_HOURS: positiveInt.default(24),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  TRACEBILL_HTTP_HOST: z.string().trim().min(1).default("127.0.0.1"),
  TRACEBILL_DASHBOARD: z.enum(["on", "off"]).default("off"),
  TRACEBILL_DASHBOARD_USER: z.string().min(1).optional(),
  TRACEBILL_DASHBOARD_PASSWORD: z.string().min(8, "at least 8 characters").optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type Env = z.infer<typeof schema>;

/** Every variable tracebill reads (kept in step with .env.example by a test). */
export const ENV_VARIABLES = [...Object.keys(schema.shape), ...PULL_ENV_VARIABLES];

/** Values never printed: shown as masked by `config check` (and the password of REDIS_URL). */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  "LAGO_API_KEY", "OPENMETER_API_KEY", "TRACEBILL_DASHBOARD_PASSWORD", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGSMITH_API_KEY",
]);

export interface Config {
  /**
   * The Redis connection string: REDIS_URL with REDIS_TLS_CA_FILE, REDIS_TLS_INSECURE and
   * REDIS_CLUSTER_NODES folded in (see runtime/redis-client.ts, which opens every connection).
   */
  redisUrl: string;
  mappingsDir: string;
  queuePrefix: string;
  deliveryConcurrency: number;
  /** Delivery batches (≈ requests) per second per destination, across all workers. */
  deliveryRatePerSecond: number;
  maxAttempts: number;
  backoffMs: number;
  ledgerTtlSeconds: number;
  httpTimeoutMs: number;
  /** A job's lock: a dead worker's jobs are taken over after about this long. */
  jobLockMs: number;
  reportsDir: string;
  /** Worker's scheduled reconciliation (cron) and how many UTC days back it compares. */
  reconcileCron?: string;
  reconcileDays: number;
  /** How long trace contexts stay in Redis for records of later files / jobs to join. */
  contextTtlSeconds: number;
  /** How long a record waits for its trace context before it is reported as an orphan. */
  parkSeconds: number;
  logLevel: Env["LOG_LEVEL"];
  /** The worker's HTTP server (/healthz, /readyz, /metrics, optional dashboard); port 0 = any free port. */
  http: { port: number; host: string; dashboard?: { user: string; password: string } };
  lago: { apiUrl?: string; apiKey?: string };
  openmeter: { url?: string; apiKey?: string };
  /** API pull mode (LangSmith / Langfuse credentials, lag, windows, schedule). */
  pull: PullConfig;
}

export interface ConfigProblem {
  variable: string;
  message: string;
  /**
   * Stops start-up (loadConfig throws). Problems that are not fatal leave a command working but
   * a part of the deployment unusable (e.g. a destination with a URL and no key is ignored);
   * `tracebill config check` reports both.
   */
  fatal: boolean;
}

export interface ConfigEntry {
  variable: string;
  /** The effective value, secrets masked; null when unset with no default. */
  value: string | null;
  source: "env" | "default" | "unset";
  secret: boolean;
}

export interface ConfigCheck {
  /** The typed config, or null when a fatal problem stops start-up. */
  config: Config | null;
  /** Every problem at once, in variable order. */
  problems: ConfigProblem[];
  /** Every variable tracebill reads, with its effective value (masked) and where it came from. */
  entries: ConfigEntry[];
}

/**
 * Reads every setting at once and gathers every problem: zod issues of each variable, then
 * cross-field ones (dashboard without credentials, pull key pairs, TLS settings without
 * rediss://, a destination half set). Never echoes a secret value.
 */
export function checkConfig(env: NodeJS.ProcessEnv = process.env): ConfigCheck {
  // Empty strings in .env files mean "unset", not "invalid".
  const get = (k: string) => (env[k] === "" ? undefined : env[k]);
  const cleaned = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, get(k)]));
  const pullCleaned = Object.fromEntries(PULL_ENV_VARIABLES.map((k) => [k, get(k)]));
  const problems: ConfigProblem[] = [];
  const fatal = (variable: string, message: string) => problems.push({ variable, message, fatal: true });

  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) for (const i of parsed.error.issues) fatal(String(i.path[0] ?? "?"), i.message);
  const pullParsed = pullEnvSchema.safeParse(pullCleaned);
  if (!pullParsed.success) for (const i of pullParsed.error.issues) fatal(String(i.path[0] ?? "?"), i.message);

  const e = parsed.success ? parsed.data : undefined;
  const invalid = new Set(problems.map((p) => p.variable));
  const ok = (k: string) => !invalid.has(k);

  // Cross-field checks, each on the variables that parsed.
  if (ok("TRACEBILL_DASHBOARD") && get("TRACEBILL_DASHBOARD") === "on") {
    const missing = ["TRACEBILL_DASHBOARD_USER", "TRACEBILL_DASHBOARD_PASSWORD"].filter((k) => !get(k));
    if (missing.length) fatal("TRACEBILL_DASHBOARD", `on serves the dashboard behind basic auth: ${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} missing`);
  }
  for (const [a, b] of [["LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"], ["LANGSMITH_API_KEY", "LANGSMITH_PROJECT"]] as const) {
    if (Boolean(get(a)?.trim()) !== Boolean(get(b)?.trim())) fatal(get(a)?.trim() ? b : a, `is missing (set both ${a} and ${b}, or neither)`);
  }
  redisChecks(get, ok, fatal);
  for (const [u, k] of [["LAGO_API_URL", "LAGO_API_KEY"], ["OPENMETER_URL", "OPENMETER_API_KEY"]] as const) {
    if (Boolean(get(u)) !== Boolean(get(k))) {
      problems.push({ variable: get(u) ? k : u, message: `is missing: ${get(u) ? u : k} is set, so the destination is half configured and will not be used (set both, or neither)`, fatal: false });
    }
  }

  const order = new Map(ENV_VARIABLES.map((k, i) => [k, i]));
  problems.sort((a, b) => (order.get(a.variable) ?? 999) - (order.get(b.variable) ?? 999));
  const entries = ENV_VARIABLES.map((k) => entryOf(k, get(k)));
  const config = e && !problems.some((p) => p.fatal) ? toConfig(e, env) : null;
  return { config, problems, entries };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { config, problems } = checkConfig(env);
  if (!config) {
    const lines = problems.filter((p) => p.fatal).map((p) => `  ${p.variable}: ${p.message}`);
    throw new UserError(`Invalid configuration in the environment:\n${lines.join("\n")}`);
  }
  return config;
}

function redisChecks(get: (k: string) => string | undefined, ok: (k: string) => boolean, fatal: (v: string, m: string) => void): void {
  const raw = get("REDIS_URL") ?? "redis://127.0.0.1:6379";
  if (!ok("REDIS_URL")) return;
  const u = new URL(raw.trim());
  const tls = u.protocol === "rediss:";
  const ca = get("REDIS_TLS_CA_FILE")?.trim();
  if (ca && !tls) fatal("REDIS_TLS_CA_FILE", "is set but REDIS_URL is not rediss:// (TLS)");
  if (ca && tls) {
    try {
      if (!readFileSync(ca, "utf8").includes("-----BEGIN CERTIFICATE-----")) fatal("REDIS_TLS_CA_FILE", `${ca} holds no PEM certificate`);
    } catch (err) {
      fatal("REDIS_TLS_CA_FILE", `cannot read ${ca}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  if (ok("REDIS_TLS_INSECURE") && ["true", "1", "yes"].includes(get("REDIS_TLS_INSECURE") ?? "") && !tls) {
    fatal("REDIS_TLS_INSECURE", "is set but REDIS_URL is not rediss:// (TLS)");
  }
  if (get("REDIS_CLUSTER_NODES") && ok("REDIS_CLUSTER_NODES") && u.pathname && u.pathname !== "/" && u.pathname !== "/0") {
    fatal("REDIS_URL", `a Redis Cluster has only database 0; drop ${u.pathname} from REDIS_URL or unset REDIS_CLUSTER_NODES`);
  }
}

function entryOf(k: string, raw: string | undefined): ConfigEntry {
  const secret = SECRET_VARIABLES.has(k);
  const field = (schema.shape as Record<string, z.ZodType>)[k] ?? (pullEnvSchema.shape as Record<string, z.ZodType>)[k];
  if (raw !== undefined) {
    // A password inside any URL (REDIS_URL, or credentials pasted into another URL) is masked too.
    const shown = secret ? maskSecret(raw) : /^[a-z][a-z0-9+.-]*:\/\//i.test(raw.trim()) ? maskUrlPassword(raw) : raw;
    return { variable: k, value: shown, source: "env", secret };
  }
  const d = field?.safeParse(undefined);
  const value = d?.success && d.data !== undefined ? String(d.data) : null;
  return { variable: k, value, source: value === null ? "unset" : "default", secret };
}

/** A secret as "****…" of a fixed length: says it is set, never how it starts or ends. */
export function maskSecret(v: string): string {
  return v ? "********" : "";
}

/** The password part of a URL masked; the rest kept. */
export function maskUrlPassword(v: string): string {
  try {
    const u = new URL(v.trim());
    if (!u.password) return v;
    u.password = "********";
    return u.toString();
  } catch {
    // Never echo something we could not parse: it may hold a password.
    return /@/.test(v) ? "(unparseable, may hold a password: not shown)" : v;
  }
}

function toConfig(e: Env, env: NodeJS.ProcessEnv): Config {
  return {
    redisUrl: redisConnectionString(e.REDIS_URL, { caFile: e.REDIS_TLS_CA_FILE, insecure: e.REDIS_TLS_INSECURE, clusterNodes: e.REDIS_CLUSTER_NODES }),
    mappingsDir: e.MAPPINGS_DIR,
    queuePrefix: e.TRACEBILL_QUEUE_PREFIX,
    deliveryConcurrency: e.TRACEBILL_DELIVERY_CONCURRENCY,
    deliveryRatePerSecond: e.TRACEBILL_DELIVERY_RATE_PER_SECOND,
    maxAttempts: e.TRACEBILL_MAX_ATTEMPTS,
    backoffMs: e.TRACEBILL_BACKOFF_MS,
    ledgerTtlSeconds: e.TRACEBILL_LEDGER_TTL_DAYS * 86_400,
    httpTimeoutMs: e.TRACEBILL_HTTP_TIMEOUT_MS,
    jobLockMs: e.TRACEBILL_JOB_LOCK_MS,
    reportsDir: e.TRACEBILL_REPORTS_DIR,
    reconcileCron: e.TRACEBILL_RECONCILE_CRON,
    reconcileDays: e.TRACEBILL_RECONCILE_DAYS,
    contextTtlSeconds: e.TRACEBILL_CONTEXT_TTL_HOURS * 3600,
    parkSeconds: e.TRACEBILL_PARK_HOURS * 3600,
    logLevel: e.LOG_LEVEL,
    http: {
      port: e.HTTP_PORT,
      host: e.TRACEBILL_HTTP_HOST,
      ...(e.TRACEBILL_DASHBOARD === "on" && e.TRACEBILL_DASHBOARD_USER && e.TRACEBILL_DASHBOARD_PASSWORD
        ? { dashboard: { user: e.TRACEBILL_DASHBOARD_USER, password: e.TRACEBILL_DASHBOARD_PASSWORD } }
        : {}),
    },
    lago: { apiUrl: e.LAGO_API_URL, apiKey: e.LAGO_API_KEY },
    openmeter: { url: e.OPENMETER_URL, apiKey: e.OPENMETER_API_KEY },
    pull: parsePullEnv(env),
  };
}

/** The destination's settings, or a UserError naming the missing variables. */
export function destinationSettings(config: Config, destination: Destination): { url: string; apiKey: string } {
  const [url, apiKey, urlVar, keyVar] =
    destination === "lago"
      ? [config.lago.apiUrl, config.lago.apiKey, "LAGO_API_URL", "LAGO_API_KEY"]
      : [config.openmeter.url, config.openmeter.apiKey, "OPENMETER_URL", "OPENMETER_API_KEY"];
  const missing = [url ? null : urlVar, apiKey ? null : keyVar].filter(Boolean);
  if (missing.length > 0 || !url || !apiKey) {
    throw new UserError(`Destination ${destination} needs ${missing.join(" and ")} in the environment (see .env.example).`);
  }
  return { url, apiKey };
}
