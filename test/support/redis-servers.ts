import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { findRedisServer, freePort, waitForPort as waitForRedisPort } from "../../src/runtime/redis-server.js";

const run = promisify(execFile);

/**
 * Private redis-server processes for the TLS and Cluster tests: each started on free ports in a
 * temp dir and stopped (SIGTERM, then the dir removed) by stop(). Only processes started here are
 * ever signalled.
 */

interface Proc {
  child: ChildProcess;
  stderr: () => string;
}

function startProc(args: string[], cwd: string): Proc {
  const bin = findRedisServer();
  if (!bin) throw new Error("redis-server is not on PATH");
  const child = spawn(bin, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return { child, stderr: () => out };
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.child.once("exit", () => r()));
  p.child.kill("SIGTERM");
  await exited;
}

const waitForPort = (port: number, p: Proc) => waitForRedisPort(port, p.child, p.stderr);

// ── TLS + auth ───────────────────────────────────────────────────────────────────────────────

export interface TlsRedis {
  /** rediss://:password@127.0.0.1:port */
  url: string;
  port: number;
  password: string;
  /** PEM of the throwaway CA that signed the server certificate. */
  caFile: string;
  /** A CA that did not sign it (to prove verification is on). */
  otherCaFile: string;
  stop(): Promise<void>;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir });
}

/** A throwaway CA and a server certificate for 127.0.0.1 / localhost, written into `dir`. */
export async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string; otherCa: string }> {
  const days = "2";
  await openssl(dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", days, "-subj", "/CN=tracebill test CA");
  await openssl(dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.crt", "-days", days, "-subj", "/CN=some other CA");
  await openssl(dir, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
  await openssl(dir, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", days, "-extfile", "san.ext");
  return { ca: join(dir, "ca.crt"), cert: join(dir, "server.crt"), key: join(dir, "server.key"), otherCa: join(dir, "other.crt") };
}

/** redis-server speaking only TLS (`--port 0`), with `requirepass`; clients need no certificate. */
export async function startTlsRedis(password = "s3cret-pa55-word"): Promise<TlsRedis> {
  const dir = mkdtempSync(join(tmpdir(), "tb-redis-tls-"));
  const certs = await makeCertificates(dir);
  const port = await freePort();
  const p = startProc([
    "--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1", "--dir", dir,
    "--tls-cert-file", certs.cert, "--tls-key-file", certs.key, "--tls-ca-cert-file", certs.ca, "--tls-auth-clients", "no",
    "--requirepass", password, "--save", "", "--appendonly", "no", "--loglevel", "warning",
  ], dir);
  try {
    await waitForPort(port, p);
  } catch (e) {
    await stopProc(p);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `rediss://:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    port,
    password,
    caFile: certs.ca,
    otherCaFile: certs.otherCa,
    stop: async () => {
      await stopProc(p);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ── Cluster ──────────────────────────────────────────────────────────────────────────────────

export interface RedisCluster {
  /** host:port of every node (REDIS_CLUSTER_NODES). */
  nodes: string;
  ports: number[];
  stop(): Promise<void>;
}

/** Three masters, no replicas, slots spread by `redis-cli --cluster create`; ready when cluster_state:ok on every node. */
export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "tb-redis-cluster-"));
  const ports: number[] = [];
  const procs: Proc[] = [];
  const stop = async () => {
    await Promise.all(procs.map(stopProc));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) {
      let port = await freePort();
      // The cluster bus listens on port + 10000: keep both under 65536 and distinct.
      while (port + 10000 > 65535 || ports.includes(port)) port = await freePort();
      ports.push(port);
      procs.push(startProc([
        "--port", String(port), "--bind", "127.0.0.1", "--dir", dir,
        "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--cluster-node-timeout", "2000",
        "--save", "", "--appendonly", "no", "--loglevel", "warning",
      ], dir));
    }
    await Promise.all(ports.map((port, i) => waitForPort(port, procs[i]!)));
    await run("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"]);
    for (let i = 0; i < 400; i++) {
      const states = await Promise.all(ports.map(async (p) => (await run("redis-cli", ["-p", String(p), "cluster", "info"])).stdout));
      if (states.every((s) => s.includes("cluster_state:ok"))) break;
      if (i === 399) throw new Error(`cluster did not become ok: ${states.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(","), ports, stop };
}
