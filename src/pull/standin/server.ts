/**
 * @module Plumbing shared by the Langfuse and LangSmith stand-ins: an HTTP server on 127.0.0.1
 * (port 0 by default), a request log stamped with the stand-in's clock, scripted faults (429 with
 * Retry-After, 5xx) and an optional per-minute rate limit that answers like the platforms do.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readBody } from "../../runtime/http-body.js";

export interface StandinRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: string;
}

export interface StandinReply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface LoggedRequest {
  /** Stand-in clock, epoch ms, when the request arrived. */
  at: number;
  method: string;
  path: string;
  query: string;
  /** Parsed JSON body (POST), for asserting what the client asked for. */
  body: unknown;
  status: number;
}

export interface Fault {
  status: number;
  /** Sent as Retry-After verbatim: delta-seconds ("7") or an HTTP-date. */
  retryAfter?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** How many matching requests get it (default 1). */
  times?: number;
  /** Only requests whose path ends with this. */
  path?: string;
}

export interface StandinOptions {
  port?: number;
  /** Epoch ms; share a ManualClock with the client to see waits in the log without waiting. */
  now?: () => number;
  /** Enforce this many requests per clock minute (fixed windows), 429 + Retry-After beyond. */
  rateLimitPerMinute?: number;
}

export interface Standin {
  url: string;
  readonly log: LoggedRequest[];
  failNext(fault: Fault): void;
  stop(): Promise<void>;
}


export async function startStandin(route: (req: StandinRequest) => StandinReply, opts: StandinOptions = {}): Promise<Standin> {
  const now = opts.now ?? Date.now;
  const log: LoggedRequest[] = [];
  const faults: (Fault & { left: number })[] = [];
  const perMinute = new Map<number, number>();

  function reply(req: StandinRequest): StandinReply {
    const fault = faults.find((f) => f.left > 0 && (!f.path || req.path.endsWith(f.path)));
    if (fault) {
      fault.left--;
      const headers = { ...fault.headers, ...(fault.retryAfter !== undefined ? { "Retry-After": fault.retryAfter } : {}) };
      return { status: fault.status, headers, body: fault.body ?? { message: fault.status === 429 ? "rate limit exceeded" : "internal error" } };
    }
    if (opts.rateLimitPerMinute !== undefined) {
      const minute = Math.floor(now() / 60_000);
      const used = (perMinute.get(minute) ?? 0) + 1;
      perMinute.set(minute, used);
      const resetAt = (minute + 1) * 60_000;
      const headers = {
        "X-RateLimit-Limit": String(opts.rateLimitPerMinute),
        "X-RateLimit-Remaining": String(Math.max(0, opts.rateLimitPerMinute - used)),
        "X-RateLimit-Reset": new Date(resetAt).toISOString(),
      };
      if (used > opts.rateLimitPerMinute) {
        return { status: 429, headers: { ...headers, "Retry-After": String(Math.ceil((resetAt - now()) / 1000)) }, body: { message: "rate limit exceeded" } };
      }
      const r = route(req);
      return { ...r, headers: { ...headers, ...r.headers } };
    }
    return route(req);
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const at = now();
      const url = new URL(req.url ?? "/", "http://standin");
      let body: string;
      try {
        body = await readBody(req);
      } catch {
        res.writeHead(413).end();
        return;
      }
      const request: StandinRequest = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, body };
      let r: StandinReply;
      try {
        r = reply(request);
      } catch (e) {
        r = { status: 500, body: { message: `stand-in error: ${(e as Error).message}` } };
      }
      log.push({ at, method: request.method, path: request.path, query: url.search, body: parseOrNull(body), status: r.status });
      const payload = r.body === undefined ? undefined : JSON.stringify(r.body);
      res.writeHead(r.status, {
        ...r.headers,
        ...(payload !== undefined ? { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(payload)) } : {}),
      });
      res.end(payload);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    failNext(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}


function parseOrNull(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** Seed rows sorted newest first with a stable tie-break, as both platforms page them. */
export function compareDesc(a: { t: number; k: string[] }, b: { t: number; k: string[] }): number {
  if (a.t !== b.t) return b.t - a.t;
  for (let i = 0; i < a.k.length; i++) {
    const x = a.k[i] ?? "";
    const y = b.k[i] ?? "";
    if (x !== y) return x < y ? 1 : -1;
  }
  return 0;
}

export function encodeCursor(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString("base64");
}

export function decodeCursor(s: string): unknown {
  try {
    return JSON.parse(Buffer.from(s, "base64").toString("utf8")) as unknown;
  } catch {
    return null;
  }
}
