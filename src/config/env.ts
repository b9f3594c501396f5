import { z } from "zod";
import { UserError, type Destination } from "../model/index.js";
import { PULL_ENV_VARIABLES, parsePullEnv, type PullConfig } from "../pull/settings.js";

/**
 * Every setting tracebill reads from the environment, parsed once. An invalid value stops
 * start-up with a message naming the variable (never echoing secret values).
 */
const url = (name: string) =>
  z.string().trim().refine((v) => {
    try {
      const u = new URL(v);
      return ["http:", "https:", "redis:", "rediss:"].includes(u.protocol);
    } catch {
      return false;
    }
  }, `${name} must be an absolute URL`);

const positiveInt = z.coerce.number().int().positive();

const schema = z.object({
  REDIS_URL: url("REDIS_URL").default("redis://127.0.0.1:6379"),
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

export interface Config {
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings in .env files mean "unset", not "invalid".
  const cleaned = Object.fromEntries(
    Object.keys(schema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]),
  );
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? "?");
      return `  ${name}: ${i.message}`;
    });
    throw new UserError(`Invalid configuration in the environment:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  return {
    redisUrl: e.REDIS_URL,
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
    http: { port: e.HTTP_PORT, host: e.TRACEBILL_HTTP_HOST, ...dashboardOf(e) },
    lago: { apiUrl: e.LAGO_API_URL, apiKey: e.LAGO_API_KEY },
    openmeter: { url: e.OPENMETER_URL, apiKey: e.OPENMETER_API_KEY },
    pull: parsePullEnv(env),
  };
}

/** The dashboard is only served with credentials: "on" without both is a configuration error. */
function dashboardOf(e: Env): { dashboard?: { user: string; password: string } } {
  if (e.TRACEBILL_DASHBOARD !== "on") return {};
  if (!e.TRACEBILL_DASHBOARD_USER || !e.TRACEBILL_DASHBOARD_PASSWORD) {
    throw new UserError("Invalid configuration in the environment:\n  TRACEBILL_DASHBOARD: on needs TRACEBILL_DASHBOARD_USER and TRACEBILL_DASHBOARD_PASSWORD (basic auth)");
  }
  return { dashboard: { user: e.TRACEBILL_DASHBOARD_USER, password: e.TRACEBILL_DASHBOARD_PASSWORD } };
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
