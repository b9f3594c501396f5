import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs on stderr (stdout stays for command output). Anything that looks like a
 * credential is redacted, so an API key can't leak through a logged config or error object.
 */
export function createLogger(level: string, name = "tracebill"): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ["apiKey", "*.apiKey", "*.*.apiKey", "headers.authorization", "*.headers.authorization", "LAGO_API_KEY", "OPENMETER_API_KEY"],
        censor: "[redacted]",
      },
    },
    pino.destination(2),
  );
}
