import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { ENV_VARIABLES, loadConfig } from "../../src/config/env.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { EXAMPLE_TENANT_TOTALS, EXAMPLE_TENANTS } from "../support/expected.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { ROOT, lagoTenantTotals } from "../support/stack.js";

const run = promisify(execFile);
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");

// ── a small Dockerfile reader: instructions per stage, continuation lines joined ──────────────

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let cur = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!cur && (line === "" || line.startsWith("#"))) continue;
    if (line.endsWith("\\")) cur += line.slice(0, -1) + " ";
    else {
      logical.push((cur + line).trim());
      cur = "";
    }
  }
  const stages: Stage[] = [];
  for (const l of logical) {
    const [op, ...rest] = l.split(/\s+/);
    const args = rest.join(" ");
    if (op!.toUpperCase() === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      stages.push({ from: m[1]!, name: m[2] ?? String(stages.length), instructions: [] });
    } else stages.at(-1)!.instructions.push({ op: op!.toUpperCase(), args });
  }
  return stages;
}

const jsonForm = (args: string): string[] => JSON.parse(args) as string[];
/** ENV a=b c=d (or ENV a b) → pairs. */
function envOf(stage: Stage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of stage.instructions.filter((x) => x.op === "ENV")) {
    if (!i.args.includes("=")) {
      const [k, ...v] = i.args.split(/\s+/);
      out[k!] = v.join(" ");
    } else for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) out[m[1]!] = m[2]!.replace(/^"|"$/g, "");
  }
  return out;
}

const dockerfile = parseDockerfile(read("Dockerfile"));
const runtime = dockerfile.at(-1)!;
const cmdOf = (s: Stage) => jsonForm(s.instructions.filter((i) => i.op === "CMD").at(-1)!.args);
const healthcheck = () => {
  const h = runtime.instructions.find((i) => i.op === "HEALTHCHECK")!.args;
  return jsonForm(h.slice(h.indexOf("CMD") + 3).trim());
};
const exposed = () => Number(runtime.instructions.find((i) => i.op === "EXPOSE")!.args);
const START = cmdOf(runtime);
const PORT = loadConfig({}).http.port;

describe("deployment files agree with each other, the config and the README", () => {
  const compose = parse(read("docker-compose.yml")) as {
    services: Record<string, { image?: string; build?: unknown; command?: string[]; environment?: Record<string, string>; ports?: string[]; volumes?: string[]; profiles?: string[]; depends_on?: Record<string, unknown>; network_mode?: string }>;
    volumes: Record<string, unknown>;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes manifests, read field by field below
  const k8s = parseAllDocuments(read("deploy/k8s/deployment.yaml")).map((d) => d.toJSON() as Record<string, any>);
  const secret = parse(read("deploy/k8s/secret.example.yaml")) as { kind: string; metadata: { name: string }; stringData: Record<string, string> };
  const deployment = k8s.find((d) => d.kind === "Deployment")!;
  const container = deployment.spec.template.spec.containers[0];

  it("Dockerfile: a builder stage that compiles, a runtime stage with production deps only, non-root, the worker as CMD", () => {
    expect(dockerfile.map((s) => s.name)).toEqual(["builder", "runtime"]);
    const runs = (s: Stage) => s.instructions.filter((i) => i.op === "RUN").map((i) => i.args);
    expect(runs(dockerfile[0]!).some((r) => /^npm ci\b/.test(r))).toBe(true);
    expect(runs(dockerfile[0]!)).toContain("npm run build");
    expect(runs(runtime).some((r) => /^npm ci --omit=dev\b/.test(r))).toBe(true);
    // `prepare` builds with tsc, a dev dependency: the runtime install must not run it.
    expect(JSON.parse(read("package.json")).scripts.prepare).toBeDefined();
    expect(runs(runtime).find((r) => r.startsWith("npm ci"))).toContain("--ignore-scripts");
    expect(runtime.instructions.some((i) => i.op === "COPY" && i.args.startsWith("--from=builder /app/dist"))).toBe(true);
    const user = runtime.instructions.filter((i) => i.op === "USER").at(-1)?.args;
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user);
    expect(START).toEqual(["node", "bin/tracebill.js", "worker"]);
    expect(exposed()).toBe(PORT);
    expect(healthcheck().join(" ")).toContain("/healthz");
    // Every ENV is a tracebill variable (or NODE_ENV), the HTTP server listens beyond loopback.
    const env = envOf(runtime);
    for (const k of Object.keys(env)) expect(k === "NODE_ENV" || k === "NODE_OPTIONS" || ENV_VARIABLES.includes(k), k).toBe(true);
    expect(env.TRACEBILL_HTTP_HOST).toBe("0.0.0.0");
    // The worker's heap is capped (peak RSS goal 256 MB: npm run bench measures it both ways).
    expect(Number(/--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS ?? "")?.[1])).toBeLessThanOrEqual(192);
    expect(Number(env.HTTP_PORT)).toBe(exposed());
    // What the image copies exists and is not excluded by .dockerignore.
    const ignored = read(".dockerignore").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    for (const s of dockerfile) {
      for (const c of s.instructions.filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))) {
        for (const src of c.args.split(/\s+/).slice(0, -1)) {
          expect(existsSync(join(ROOT, src)), src).toBe(true);
          expect(ignored, src).not.toContain(src);
        }
      }
    }
    expect(ignored).toEqual(expect.arrayContaining(["node_modules", ".env", "dist"]));
    // bin/tracebill.js runs what the build writes.
    expect(read("bin/tracebill.js")).toContain("../dist/cli/main.js");
    expect(JSON.parse(read("tsconfig.build.json")).compilerOptions.outDir).toBe("dist");
  });

  it("docker-compose.yml: Redis with AOF on a volume, the worker with the image's start command, the sandbox under a profile", () => {
    const { redis, worker, sandbox } = compose.services;
    expect(redis!.command).toEqual(expect.arrayContaining(["--appendonly", "yes"]));
    expect(redis!.command![redis!.command!.indexOf("--appendonly") + 1]).toBe("yes");
    const redisVolume = redis!.volumes![0]!.split(":");
    expect(redisVolume[1]).toBe("/data");
    expect(Object.keys(compose.volumes)).toContain(redisVolume[0]);
    expect(worker!.command).toEqual(START);
    expect(worker!.build).toBe(".");
    for (const k of Object.keys(worker!.environment ?? {})) expect(ENV_VARIABLES, k).toContain(k);
    expect(new URL(worker!.environment!.REDIS_URL!).hostname).toBe("redis");
    expect(worker!.environment!.TRACEBILL_HTTP_HOST).toBe("0.0.0.0");
    expect(Number(worker!.environment!.HTTP_PORT)).toBe(PORT);
    expect(worker!.ports).toContain(`127.0.0.1:${PORT}:${PORT}`);
    expect(Object.keys(worker!.depends_on!)).toEqual(["redis"]);
    expect(sandbox!.profiles).toEqual(["sandbox"]);
    expect(sandbox!.command!.slice(0, 3)).toEqual(["node", "bin/tracebill.js", "sandbox"]);
    expect(sandbox!.image).toBe(worker!.image);
    // The sandbox binds 127.0.0.1: it shares the worker's network namespace, as its comment tells .env to expect.
    expect(sandbox!.network_mode).toBe("service:worker");
    const port = sandbox!.command![sandbox!.command!.indexOf("--port") + 1];
    expect(read("docker-compose.yml")).toContain(`LAGO_API_URL=http://127.0.0.1:${port}/lago`);
  });

  it("Kubernetes: the Deployment runs the same command and port, probes /healthz and /readyz, reads the Secret", () => {
    expect(container.command).toEqual(START);
    const port = container.ports.find((p: { name: string }) => p.name === "http");
    expect(port.containerPort).toBe(PORT);
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits).toMatchObject({ memory: expect.any(String) });
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    const env = Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    for (const k of Object.keys(env)) expect(ENV_VARIABLES, k).toContain(k);
    expect(env.TRACEBILL_HTTP_HOST).toBe("0.0.0.0");
    expect(Number(env.HTTP_PORT)).toBe(PORT);
    expect(Number(deployment.spec.template.metadata.annotations["prometheus.io/port"])).toBe(PORT);
    // Secret: referenced by name, every key is a tracebill variable, only placeholders in it.
    expect(secret.kind).toBe("Secret");
    expect(container.envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }]);
    for (const [k, v] of Object.entries(secret.stringData)) {
      expect(ENV_VARIABLES, k).toContain(k);
      if (/KEY|PASSWORD/.test(k)) expect(v).toBe("CHANGE_ME");
    }
    expect(secret.stringData.REDIS_URL).toContain(":CHANGE_ME@");
    // Commented-out settings name real variables too.
    for (const m of read("deploy/k8s/deployment.yaml").matchAll(/name: ([A-Z][A-Z0-9_]+)/g)) expect(ENV_VARIABLES, m[1]).toContain(m[1]);
    const service = k8s.find((d) => d.kind === "Service")!;
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
  });

  it("the README and .env.example name only variables and commands that exist", () => {
    const readme = read("README.md");
    const known = new Set([...ENV_VARIABLES, "NODE_ENV", "NODE_OPTIONS", "NO_COLOR", "PATH"]);
    const prefixes = /^(REDIS|LAGO|OPENMETER|TRACEBILL|LANGFUSE|LANGSMITH|HTTP|MAPPINGS|LOG)_/;
    for (const m of readme.matchAll(/\b([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b/g)) if (prefixes.test(m[1]!)) expect(known, m[1]).toContain(m[1]);
    for (const m of readme.matchAll(/node bin\/tracebill\.js (\w+)/g)) expect(["worker", "sandbox", "status", "demo", "sync", "reconcile", "config", "dlq", "pull"]).toContain(m[1]);
    for (const m of readme.matchAll(/HTTP_PORT[^\n]*?default[^\d\n]*(\d+)/gi)) expect(Number(m[1])).toBe(PORT);
    const example = read(".env.example");
    expect(example).toMatch(new RegExp(`^HTTP_PORT=${PORT}$`, "m"));
  });
});

// ── the production start command, run the way the image runs it ──────────────────────────────

/**
 * Plays the Dockerfile's instructions on temp dirs standing for each stage's /app: the builder's
 * COPY lines, `npm ci` (the checkout's node_modules) and `npm run build`; then the runtime
 * stage's COPY lines (dist/ from the builder), `npm ci --omit=dev` (production packages only)
 * and mkdir, with /data beside /app. Returns the runtime /app and the stage's ENV.
 */
async function imageLayout(): Promise<{ app: string; env: Record<string, string> }> {
  const root = mkdtempSync(join(tmpdir(), "tb-image-"));
  const dirs: Record<string, string> = {};
  let env: Record<string, string> = {};
  for (const stage of dockerfile) {
    const app = (dirs[stage.name] = join(root, stage.name, "app"));
    const data = join(root, stage.name, "data");
    mkdirSync(app, { recursive: true });
    const mapPath = (p: string) => p.replace(/^\/app(?=\/|$)/, app).replace(/^\/data(?=\/|$)/, data);
    for (const i of stage.instructions) {
      const from = /^--from=(\S+)\s+/.exec(i.args);
      if (i.op === "COPY" && from) {
        const [src, dest] = i.args.slice(from[0].length).split(/\s+/);
        cpSync(src!.replace(/^\/app(?=\/|$)/, dirs[from[1]!]!), join(app, dest!), { recursive: true });
      } else if (i.op === "COPY") {
        const parts = i.args.split(/\s+/);
        const dest = parts.at(-1)!;
        for (const src of parts.slice(0, -1)) cpSync(join(ROOT, src), dest.endsWith("/") ? join(app, dest, src) : join(app, dest), { recursive: true });
      } else if (i.op === "RUN" && /^npm ci --omit=dev\b/.test(i.args)) {
        // Every package the lockfile does not mark dev-only, linked from the checkout's install.
        const lock = JSON.parse(readFileSync(join(app, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
        for (const [path, meta] of Object.entries(lock.packages)) {
          if (!path.startsWith("node_modules/") || path.slice(13).includes("/node_modules/") || meta.dev) continue;
          mkdirSync(dirname(join(app, path)), { recursive: true });
          symlinkSync(join(ROOT, path), join(app, path), "dir");
        }
      } else if (i.op === "RUN" && /^npm ci\b/.test(i.args)) {
        symlinkSync(join(ROOT, "node_modules"), join(app, "node_modules"), "dir");
      } else if (i.op === "RUN" && i.args === "npm run build") {
        const script = (JSON.parse(readFileSync(join(app, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.build!;
        const [bin, ...args] = script.split(/\s+/);
        expect(bin).toBe("tsc");
        await run(process.execPath, [join(app, "node_modules/typescript/bin/tsc"), ...args], { cwd: app });
      } else if (i.op === "RUN" && i.args.startsWith("mkdir")) {
        for (const d of i.args.split("&&")[0]!.split(/\s+/).filter((x) => x.startsWith("/"))) mkdirSync(mapPath(d), { recursive: true });
      }
    }
    env = Object.fromEntries(Object.entries(envOf(stage)).map(([k, v]) => [k, mapPath(v)]));
  }
  return { app: dirs[runtime.name]!, env };
}

describe("the image's start command runs the worker (production build, production dependencies only)", () => {
  let sandbox: Sandbox;
  let layout: { app: string; env: Record<string, string> };
  let worker: ChildProcess | undefined;
  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, seed: demoSeed(EXAMPLE_TENANTS, [{ metric: "llm_tokens", valueProperty: "value" }]) });
    layout = await imageLayout();
  }, 120_000);
  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker!.once("exit", r));
      worker.kill("SIGKILL");
      await exited;
    }
    await sandbox?.stop();
    if (layout) rmSync(dirname(dirname(layout.app)), { recursive: true, force: true });
  });

  it("devDependencies are really absent from the layout", () => {
    const pkg = JSON.parse(readFileSync(join(layout.app, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    // npm keeps a devOptional package (a dev dependency that a production one lists as an optional peer, e.g. typescript).
    const lock = JSON.parse(readFileSync(join(layout.app, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
    for (const dev of Object.keys(pkg.devDependencies)) {
      const meta = lock.packages[`node_modules/${dev}`]!;
      expect(existsSync(join(layout.app, "node_modules", dev)), dev).toBe(meta.devOptional === true && !meta.dev);
    }
    expect(existsSync(join(layout.app, "node_modules", "vitest"))).toBe(false);
    expect(existsSync(join(layout.app, "node_modules", "tsx"))).toBe(false);
    for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(layout.app, "node_modules", dep)), dep).toBe(true);
    expect(existsSync(join(layout.app, "dist/cli/main.js"))).toBe(true);
    expect(existsSync(join(layout.app, "src"))).toBe(false);
  });

  it("serves /healthz (the image's HEALTHCHECK passes) and /readyz, delivers a sync, and exits 0 on SIGTERM", async () => {
    const prefix = uniquePrefix("image");
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: layout.app,
      ...layout.env,
      // Port 0: any free port (9464 may be taken on the test machine); the log says which.
      HTTP_PORT: "0",
      REDIS_URL: testRedisUrl(),
      TRACEBILL_QUEUE_PREFIX: prefix,
      LAGO_API_URL: sandbox.lagoApiUrl,
      LAGO_API_KEY: sandbox.lagoApiKey,
    };
    const [cmd, ...args] = START;
    expect(cmd).toBe("node");
    worker = spawn(process.execPath, args, { cwd: layout.app, env, stdio: ["ignore", "pipe", "pipe"] });
    let logs = "";
    worker.stderr!.on("data", (d: Buffer) => (logs += d.toString()));
    worker.stdout!.on("data", (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((r) => worker!.once("exit", (code) => r(code)));

    let address: string | undefined;
    for (let i = 0; i < 400 && !address && worker.exitCode === null; i++) {
      for (const line of logs.split("\n")) {
        if (!line.includes("HTTP server listening")) continue;
        address = (JSON.parse(line) as { address: string }).address;
      }
      if (!address) await new Promise((r) => setTimeout(r, 50));
    }
    expect(address, logs).toBeDefined();
    const port = new URL(address!).port;

    // The Dockerfile's HEALTHCHECK, run as Docker would inside the container.
    const [hcCmd, ...hcArgs] = healthcheck();
    expect(hcCmd).toBe("node");
    const hc = await run(process.execPath, hcArgs, { cwd: layout.app, env: { ...env, HTTP_PORT: port } }).then(() => 0, (e: { code: number }) => e.code);
    expect(hc).toBe(0);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);

    // A sync handed to it through Redis is delivered.
    const redis = new Redis(testRedisUrl());
    try {
      const config = { ...loadConfig({ REDIS_URL: testRedisUrl(), TRACEBILL_QUEUE_PREFIX: prefix }) };
      const id = await enqueueSync(redis, config, { destination: "lago", inputs: exampleInputs(), mappingPath: join(layout.app, "mappings") });
      const s = await waitForSync(redis, config, id, undefined, 50);
      expect(s.error).toBeNull();
      expect(s.delivered).toBe(59);
    } finally {
      await redis.quit();
    }
    expect(lagoTenantTotals(sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);

    worker.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(logs).toContain("worker stopped");
    expect(logs).not.toContain(sandbox.lagoApiKey);
    // After SIGTERM the healthcheck fails: nothing answers any more.
    const after = await run(process.execPath, hcArgs, { cwd: layout.app, env: { ...env, HTTP_PORT: port } }).then(() => 0, (e: { code: number }) => e.code);
    expect(after).toBe(1);
  });
});
