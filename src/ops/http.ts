/**
 * @module The worker's operations HTTP server: /healthz (the process answers), /readyz (Redis and
 * every configured destination answer), /metrics (Prometheus text from the worker's own registry)
 * and, only when configured, the bull-board queue dashboard at /dashboard behind HTTP basic auth.
 * Binds where it is told (the config's default is 127.0.0.1); nothing here ever echoes a secret.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type RequestHandler, type Response } from "express";
import type { Queue } from "bullmq";
import type { Logger } from "../runtime/logger.js";
import type { Metrics } from "./metrics.js";

/** Something that answers PING (an ioredis client). */
export interface Pingable {
  ping(): Promise<unknown>;
}

/** Something whose reachability can be asked cheaply (a BillingSink's probe: never throws). */
export interface Probeable {
  probe(): Promise<boolean>;
}

export interface OpsServerOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  metrics: Metrics;
  redis: Pingable;
  /** Configured destinations by name. */
  destinations: Record<string, Probeable | undefined>;
  /** Serve the queue dashboard with these credentials; absent = no dashboard (404). */
  dashboard?: { user: string; password: string; queues: readonly Queue[] };
  /** How long one readiness check may take before it counts as down (default 2000 ms). */
  readyTimeoutMs?: number;
  /** Each request at debug level (method, path, status; never headers). */
  logger?: Logger;
}

export interface OpsServer {
  /** The address actually bound, e.g. http://127.0.0.1:9464. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

type Check = "up" | "down" | "timeout";

/** Resolves what the check says, "down" if it throws, "timeout" if it takes longer than `ms`. */
async function check(run: () => Promise<boolean>, ms: number): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Check>((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([run().then((ok): Check => (ok ? "up" : "down"), (): Check => "down"), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Compares in constant time whatever the lengths (both sides hashed first). */
function sameSecret(given: string, expected: string): boolean {
  const h = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(h(given), h(expected));
}

/** HTTP basic auth against one user and password; 401 with a challenge otherwise. */
export function basicAuth(user: string, password: string): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(req.headers.authorization ?? "");
    const decoded = m ? Buffer.from(m[1]!, "base64").toString("utf8") : "";
    const colon = decoded.indexOf(":");
    const givenUser = colon >= 0 ? decoded.slice(0, colon) : "";
    const givenPassword = colon >= 0 ? decoded.slice(colon + 1) : "";
    // Both compared every time (no short-circuit), so the answer time says nothing about which was wrong.
    const userOk = sameSecret(givenUser, user);
    const passwordOk = sameSecret(givenPassword, password);
    if (colon >= 0 && userOk && passwordOk) return next();
    res.set("WWW-Authenticate", 'Basic realm="tracebill dashboard", charset="UTF-8"').status(401).type("text/plain").send("authentication required\n");
  };
}

async function dashboardRouter(queues: readonly Queue[]): Promise<RequestHandler> {
  // Loaded only when the dashboard is on.
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import("@bull-board/api"),
    import("@bull-board/api/bullMQAdapter"),
    import("@bull-board/express"),
  ]);
  const adapter = new ExpressAdapter();
  adapter.setBasePath("/dashboard");
  // Read-only: jobs are inspected here; dead letters are retried with `tracebill dlq retry`.
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })), serverAdapter: adapter });
  return adapter.getRouter() as RequestHandler;
}

export async function startOpsServer(o: OpsServerOptions): Promise<OpsServer> {
  const timeoutMs = o.readyTimeoutMs ?? 2000;
  const app = express();
  app.disable("x-powered-by");
  if (o.logger) {
    const logger = o.logger;
    app.use((req, res, next) => {
      const started = performance.now();
      res.on("finish", () => logger.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - started) }, "http request"));
      next();
    });
  }

  app.get("/healthz", (_req, res) => {
    res.status(200).json({ status: "ok" });
  });

  app.get("/readyz", async (_req, res) => {
    const names = Object.keys(o.destinations).filter((d) => o.destinations[d]);
    const results = await Promise.all([
      check(async () => (await o.redis.ping()) === "PONG", timeoutMs),
      ...names.map((d) => check(() => o.destinations[d]!.probe(), timeoutMs)),
    ]);
    const checks: Record<string, Check> = { redis: results[0]! };
    names.forEach((d, i) => (checks[d] = results[i + 1]!));
    const down = Object.keys(checks).filter((k) => checks[k] !== "up");
    res.status(down.length ? 503 : 200).json(down.length ? { status: "not ready", down, checks } : { status: "ready", checks });
  });

  app.get("/metrics", async (_req, res) => {
    try {
      const { contentType, body } = await o.metrics.scrape();
      res.status(200).type(contentType).send(body);
    } catch {
      res.status(500).type("text/plain").send("metrics collection failed\n");
    }
  });

  if (o.dashboard) {
    app.use("/dashboard", basicAuth(o.dashboard.user, o.dashboard.password), await dashboardRouter(o.dashboard.queues));
  }

  app.use((_req, res) => {
    res.status(404).json({ error: "not found" });
  });
  // Express's default error page can carry a stack trace; answer plainly instead.
  app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (!res.headersSent) res.status(500).json({ error: "internal error" });
  });

  const server: Server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostForUrl = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${hostForUrl}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
