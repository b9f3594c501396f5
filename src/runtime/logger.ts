import { pino, type Logger } from "pino";

export type { Logger };

const MASK = "[redacted]";

/** Environment variables whose values are secrets: scrubbed wherever they appear in a log line. */
export const SECRET_ENV_VARIABLES = [
  "LAGO_API_KEY",
  "OPENMETER_API_KEY",
  "LANGFUSE_SECRET_KEY",
  "LANGFUSE_PUBLIC_KEY",
  "LANGSMITH_API_KEY",
  "TRACEBILL_DASHBOARD_PASSWORD",
] as const;

/** Keys whose values are never logged, at any depth (compared case-insensitively). */
const SECRET_KEY = /^(authorization|proxy-authorization|x-api-key|api[-_]?key|secret[-_]?key|public[-_]?key|password|passwd|pass|token|access[-_]?token|cookie|set-cookie|[a-z0-9_]*_(api_key|secret_key|public_key|password))$/i;

/** `scheme://user:password@` (Redis URLs, any URL): the password goes, the rest stays readable. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]*):([^\s@/]+)@/gi;

/** Shorter values are not scrubbed by value (they would blank out ordinary words and numbers); keys and URLs still are. */
const MIN_SECRET_LENGTH = 6;

/**
 * The secret values configured in `env`: API keys, the dashboard password and the password in
 * REDIS_URL, raw and in the encodings a message could carry them (URI-encoded, JSON-escaped).
 */
export function secretsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw: string[] = SECRET_ENV_VARIABLES.map((k) => env[k]?.trim() ?? "");
  if (env.REDIS_URL) {
    try {
      const u = new URL(env.REDIS_URL);
      if (u.password) raw.push(u.password, safeDecode(u.password));
    } catch {
      // An unparseable REDIS_URL is refused by the config loader; the URL pattern still applies.
    }
  }
  const out = new Set<string>();
  for (const s of raw) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    for (const form of secretForms(s)) out.add(form);
  }
  // Longest first, so a secret that contains another is masked whole.
  return [...out].sort((a, b) => b.length - a.length);
}

/** Every form in which a secret can reach a text: raw, URI-encoded (URLs) and JSON-escaped (error bodies). */
export function secretForms(s: string): string[] {
  return [...new Set([s, encodeURIComponent(s), JSON.stringify(s).slice(1, -1)])];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A string with URL credentials and every known secret value masked. */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text.replace(URL_CREDENTIALS, (_m, scheme: string, user: string) => `${scheme}${user}:${MASK}@`);
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** A copy of a log argument with secrets masked: strings scrubbed, secret-named keys replaced, errors rebuilt. */
export function scrubValue(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === "string") return scrubText(value, secrets);
  if (value === null || typeof value !== "object" || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, secrets, depth + 1));
  if (value instanceof Error) {
    const copy = new Error(scrubText(value.message, secrets));
    Object.defineProperty(copy, "name", { value: value.name, enumerable: false, writable: true, configurable: true });
    copy.stack = value.stack === undefined ? undefined : scrubText(value.stack, secrets);
    for (const [k, v] of Object.entries(value)) (copy as unknown as Record<string, unknown>)[k] = SECRET_KEY.test(k) ? MASK : scrubValue(v, secrets, depth + 1);
    const cause = (value as Error & { cause?: unknown }).cause;
    if (cause !== undefined) (copy as Error & { cause?: unknown }).cause = scrubValue(cause, secrets, depth + 1);
    return copy;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    // Class instances (Dates, Buffers, clients…): left to pino's own serialization, except Headers-like maps.
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? MASK : scrubValue(v, secrets, depth + 1);
  return out;
}

/**
 * Structured JSON logs on stderr (stdout stays for command output). Secrets never reach a line:
 * values of secret-named keys (API keys, passwords, authorization / x-api-key headers) at any
 * depth, the password of any `scheme://user:password@` URL (Redis URLs included), and the
 * configured secret values themselves (SECRET_ENV_VARIABLES and REDIS_URL's password) wherever
 * they appear — in messages, error texts and stacks.
 */
export function createLogger(level: string, name = "tracebill", opts: { secrets?: readonly string[] } = {}): Logger {
  const secrets = opts.secrets ?? secretsFromEnv();
  const logger = pino(
    {
      name,
      level,
      redact: {
        paths: [
          "apiKey", "*.apiKey", "*.*.apiKey",
          "headers.authorization", "*.headers.authorization", 'headers["x-api-key"]', '*.headers["x-api-key"]',
          ...SECRET_ENV_VARIABLES,
        ],
        censor: MASK,
      },
      hooks: {
        logMethod(args, method) {
          return method.apply(this, args.map((a) => scrubValue(a, secrets)) as Parameters<typeof method>);
        },
      },
      formatters: {
        bindings: (bindings) => scrubValue(bindings, secrets) as Record<string, unknown>,
      },
    },
    pino.destination(2),
  );
  // Child bindings skip the log-method hook: scrub them when the child is made (children of children inherit this).
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return child.call(this, scrubValue(bindings, secrets) as typeof bindings, options);
  } as typeof logger.child;
  return logger;
}
