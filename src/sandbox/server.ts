/**
 * @module The sandbox HTTP server: routes /lago and /openmeter to the vendor look-alikes,
 * injects faults on the wire, and serves the admin endpoints (/_sandbox/...) other processes use
 * to drive faults and read state. Binds 127.0.0.1 only, so the unauthenticated admin endpoints
 * are never reachable from another machine.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { FaultInjector, faultPlanSchema, type FaultDecision } from "./faults.js";
import { readBody } from "../runtime/http-body.js";
import { parseJson, writeReply, type ApiRequest, type Reply } from "./http.js";
import { LagoApi, lagoServerError } from "./lago-api.js";
import { OpenMeterApi, problem } from "./openmeter-api.js";
import type { FaultPlan, RequestRecord, Sandbox, SandboxCounts, SandboxOptions, SandboxState } from "./sandbox.js";

export const DEFAULT_LAGO_API_KEY = "lago_sandbox_key";
export const DEFAULT_OPENMETER_API_KEY = "om_sandbox_key";

/** Bounds the request log; counters stay exact beyond it. */
const MAX_LOG = 50_000;

type Dest = "lago" | "openmeter";

interface Counters {
  requests: number;
  byRoute: Record<string, number>;
}

function faultReply(dest: Dest, d: FaultDecision, nowMs: number): Reply | null {
  switch (d.kind) {
    case "status5xx":
      return dest === "lago" ? { status: 503, body: { status: 503, error: "Service Unavailable" } } : problem(503, "service unavailable");
    case "html502":
      return { status: 502, contentType: "text/html", raw: "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>" };
    case "status429":
      return dest === "lago"
        ? {
            status: 429,
            // Lago Cloud announces its window in X-RateLimit-* (Reset = seconds until reset), no Retry-After.
            headers: { "X-RateLimit-Limit": "500", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": String(d.retryAfterSeconds) },
            body: { status: 429, error: "Too Many Requests" },
          }
        : problem(429, "rate limit exceeded", {
            "Retry-After": String(d.retryAfterSeconds),
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            // OpenMeter Cloud's Reset is a Unix time (openmeter.md §5.3).
            "X-RateLimit-Reset": String(Math.ceil(nowMs / 1000 + d.retryAfterSeconds)),
          });
    default:
      return null;
  }
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const now = opts.now ?? (() => new Date());
  const lagoKey = opts.lagoApiKey ?? DEFAULT_LAGO_API_KEY;
  const omKey = opts.openmeterApiKey ?? DEFAULT_OPENMETER_API_KEY;
  const lago = new LagoApi(opts.seed?.lago, { batchMax: opts.lagoBatchMax ?? 100, now });
  const openmeter = new OpenMeterApi(opts.seed?.openmeter, { dedupe: opts.openmeterDedupe ?? false, now, listLagMs: opts.openmeterListLagMs ?? 0 });
  const faults = new FaultInjector(opts.faults ?? {});
  let log: RequestRecord[] = [];
  let counters: Record<Dest, Counters> = { lago: { requests: 0, byRoute: {} }, openmeter: { requests: 0, byRoute: {} } };

  const counts = (): SandboxCounts => ({
    lago: { events: lago.eventCount(), requests: counters.lago.requests, byRoute: { ...counters.lago.byRoute }, faults: { ...faults.counts.lago }, duplicatesRefused: lago.duplicatesRefused },
    openmeter: {
      events: openmeter.eventCount(),
      requests: counters.openmeter.requests,
      byRoute: { ...counters.openmeter.byRoute },
      faults: { ...faults.counts.openmeter },
      duplicatesStored: openmeter.duplicatesStored,
      duplicatesDropped: openmeter.duplicatesDropped,
    },
  });

  const setFaults = (plan: FaultPlan) => faults.set(plan);
  const reset = () => {
    lago.clearEvents();
    openmeter.clearEvents();
    faults.set({});
    log = [];
    counters = { lago: { requests: 0, byRoute: {} }, openmeter: { requests: 0, byRoute: {} } };
  };

  function record(r: RequestRecord): void {
    const c = counters[r.destination];
    c.requests++;
    const route = `${r.method} ${r.path}`;
    c.byRoute[route] = (c.byRoute[route] ?? 0) + 1;
    log.push(r);
    if (log.length > MAX_LOG) log = log.slice(-MAX_LOG);
  }

  async function admin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const body = await readBody(req);
    if (req.method === "GET" && path === "/_sandbox/state") return writeReply(res, { status: 200, body: counts() });
    if (req.method === "GET" && path === "/_sandbox/faults") return writeReply(res, { status: 200, body: faults.current() });
    if (req.method === "POST" && path === "/_sandbox/faults") {
      const p = parseJson(body);
      const plan = p.ok ? faultPlanSchema.safeParse(p.value) : null;
      if (!plan?.success) return writeReply(res, { status: 400, body: { error: "invalid fault plan", issues: plan?.error.issues ?? [] } });
      setFaults(plan.data);
      return writeReply(res, { status: 200, body: faults.current() });
    }
    if (req.method === "POST" && path === "/_sandbox/reset") {
      reset();
      return writeReply(res, { status: 204 });
    }
    writeReply(res, { status: 404, body: { error: "unknown sandbox admin route" } });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = url.pathname;
    if (path.startsWith("/_sandbox/")) return admin(req, res, path);

    let dest: Dest;
    let sub: string;
    if (path.startsWith("/lago/api/v1/")) {
      dest = "lago";
      sub = path.slice("/lago/api/v1".length);
    } else if (path.startsWith("/openmeter/")) {
      dest = "openmeter";
      sub = path.slice("/openmeter".length);
    } else {
      await readBody(req);
      return writeReply(res, { status: 404, body: { error: `not a sandbox route: ${path} (Lago lives under /lago/api/v1, OpenMeter under /openmeter)` } });
    }

    const body = await readBody(req);
    const method = req.method ?? "GET";
    const apiReq: ApiRequest = { method, path: sub, query: url.searchParams, headers: req.headers, body };
    const isIngest = dest === "lago" ? LagoApi.isIngest(method, sub) : OpenMeterApi.isIngest(method, sub);
    const events = !isIngest ? 0 : dest === "lago" ? LagoApi.eventsInBody(sub, body) : OpenMeterApi.eventsInBody(body);
    const contentType = req.headers["content-type"] ?? null;
    const decision = faults.decide(dest, isIngest);
    if (decision.slowMs > 0) await new Promise((r) => setTimeout(r, decision.slowMs));

    if (decision.kind === "reset") {
      record({ destination: dest, method, path: sub, status: "reset", contentType, fault: "reset", events });
      req.socket.destroy();
      return;
    }
    let reply = faultReply(dest, decision, now().getTime());
    if (!reply) {
      const acceptThen500 = decision.kind === "acceptThen500";
      reply = dest === "lago" ? lago.handle(apiReq, lagoKey, acceptThen500 && isIngest) : openmeter.handle(apiReq, omKey, acceptThen500 && isIngest);
      if (acceptThen500 && !isIngest) reply = dest === "lago" ? lagoServerError : problem(500, "");
    }
    if (decision.kind === "acceptThenReset") {
      // The work is done; the answer never arrives.
      record({ destination: dest, method, path: sub, status: "reset", contentType, fault: "acceptThenReset", events });
      req.socket.destroy();
      return;
    }
    record({ destination: dest, method, path: sub, status: reply.status, contentType, fault: decision.kind, events });
    if (!res.destroyed) writeReply(res, reply);
  }

  const server = createServer((req, res) => {
    res.on("error", () => undefined);
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent || res.destroyed) return;
      writeReply(res, { status: 500, body: { error: `sandbox error: ${(e as Error).message}` } });
    });
  });
  server.on("clientError", (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  const state: SandboxState = {
    lagoEvents: () => lago.storedEvents(),
    openmeterEvents: () => openmeter.storedEvents(),
    lagoTotals: () => lago.totals(),
    openmeterTotals: () => openmeter.totals(),
    requests: (f = {}) =>
      log.filter((r) => (!f.destination || r.destination === f.destination) && (!f.method || r.method === f.method) && (!f.path || r.path === f.path)).map((r) => ({ ...r })),
    counts,
  };

  return {
    url: base,
    lagoApiUrl: `${base}/lago`,
    openmeterUrl: `${base}/openmeter`,
    lagoApiKey: lagoKey,
    openmeterApiKey: omKey,
    state,
    setFaults,
    reset,
    deleteEvents: (destination, ids) => (destination === "lago" ? lago.deleteEvents(ids) : openmeter.deleteEvents(ids)),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets held by fetch would otherwise keep close() waiting.
        server.closeAllConnections();
      }),
  };
}
