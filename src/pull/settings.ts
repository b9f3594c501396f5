import { z } from "zod";
import { UserError, type Destination, type Platform } from "../model/index.js";

/**
 * Pull-mode settings. `pullEnvSchema` lists the environment variables (meant to be merged into
 * config/env.ts); `parsePullEnv` turns them into the typed PullConfig every pull function takes.
 * Only zod and the model here, so the config loader can import it without the pull machinery.
 */

const httpUrl = (name: string) =>
  z.string().trim().refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === "http:" || u.protocol === "https:") && !u.username && !u.password;
    } catch {
      return false;
    }
  }, `${name} must be an absolute http(s) URL without credentials`);

const minutes = z.coerce.number().positive();
const flag = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes");

export const pullEnvSchema = z.object({
  LANGFUSE_HOST: httpUrl("LANGFUSE_HOST").default("https://cloud.langfuse.com"),
  LANGFUSE_PUBLIC_KEY: z.string().trim().min(1).optional(),
  LANGFUSE_SECRET_KEY: z.string().trim().min(1).optional(),
  LANGFUSE_PULL_TRACES: flag.default(true),
  LANGSMITH_API_URL: httpUrl("LANGSMITH_API_URL").default("https://api.smith.langchain.com"),
  LANGSMITH_API_KEY: z.string().trim().min(1).optional(),
  LANGSMITH_PROJECT: z.string().trim().min(1).optional(),
  TRACEBILL_PULL_LAG_MINUTES: z.coerce.number().min(0).default(15),
  TRACEBILL_PULL_WINDOW_MINUTES: minutes.default(60),
  TRACEBILL_PULL_EVERY_MINUTES: minutes.default(15),
  TRACEBILL_PULL_RPM: z.coerce.number().positive().default(30),
  TRACEBILL_PULL_START: z.string().trim().refine((v) => !Number.isNaN(Date.parse(v)), "TRACEBILL_PULL_START must be an ISO 8601 date/time").optional(),
  TRACEBILL_PULL_SPOOL_DIR: z.string().min(1).default("./spool"),
  TRACEBILL_PULL_DESTINATION: z.enum(["lago", "openmeter"] satisfies Destination[]).optional(),
});

export const PULL_ENV_VARIABLES = Object.keys(pullEnvSchema.shape);

export interface PullConfig {
  langfuse: { host: string; publicKey: string; secretKey: string; traces: boolean } | null;
  langsmith: { apiUrl: string; apiKey: string; project: string } | null;
  lagMs: number;
  windowMs: number;
  everyMs: number;
  requestsPerMinute: number;
  /** Where a never-pulled stream starts in scheduled mode (epoch ms); null = the current window. */
  startAt: number | null;
  spoolDir: string;
  /** Set: the worker pulls on a schedule and delivers here. */
  destination: Destination | null;
}

export function parsePullEnv(env: Record<string, string | undefined>): PullConfig {
  const cleaned = Object.fromEntries(PULL_ENV_VARIABLES.map((k) => [k, env[k] === "" ? undefined : env[k]]));
  const parsed = pullEnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    // Name the variable, never echo its value (keys live here).
    const lines = parsed.error.issues.map((i) => `  ${String(i.path[0] ?? "?")}: ${i.message}`);
    throw new UserError(`Invalid pull configuration in the environment:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const pair = (a: [string, string | undefined], b: [string, string | undefined]) => {
    if (Boolean(a[1]) !== Boolean(b[1])) throw new UserError(`${a[1] ? b[0] : a[0]} is missing (set both ${a[0]} and ${b[0]}, or neither)`);
  };
  pair(["LANGFUSE_PUBLIC_KEY", e.LANGFUSE_PUBLIC_KEY], ["LANGFUSE_SECRET_KEY", e.LANGFUSE_SECRET_KEY]);
  pair(["LANGSMITH_API_KEY", e.LANGSMITH_API_KEY], ["LANGSMITH_PROJECT", e.LANGSMITH_PROJECT]);
  return {
    langfuse:
      e.LANGFUSE_PUBLIC_KEY && e.LANGFUSE_SECRET_KEY
        ? { host: e.LANGFUSE_HOST, publicKey: e.LANGFUSE_PUBLIC_KEY, secretKey: e.LANGFUSE_SECRET_KEY, traces: e.LANGFUSE_PULL_TRACES }
        : null,
    langsmith:
      e.LANGSMITH_API_KEY && e.LANGSMITH_PROJECT ? { apiUrl: e.LANGSMITH_API_URL, apiKey: e.LANGSMITH_API_KEY, project: e.LANGSMITH_PROJECT } : null,
    lagMs: e.TRACEBILL_PULL_LAG_MINUTES * 60_000,
    windowMs: e.TRACEBILL_PULL_WINDOW_MINUTES * 60_000,
    everyMs: e.TRACEBILL_PULL_EVERY_MINUTES * 60_000,
    requestsPerMinute: e.TRACEBILL_PULL_RPM,
    startAt: e.TRACEBILL_PULL_START ? Date.parse(e.TRACEBILL_PULL_START) : null,
    spoolDir: e.TRACEBILL_PULL_SPOOL_DIR,
    destination: e.TRACEBILL_PULL_DESTINATION ?? null,
  };
}

/** Platforms whose credentials are configured. */
export function configuredPlatforms(config: PullConfig): Platform[] {
  return [...(config.langfuse ? (["langfuse"] as const) : []), ...(config.langsmith ? (["langsmith"] as const) : [])];
}
