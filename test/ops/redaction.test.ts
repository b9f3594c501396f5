import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { exampleSeed, startLangfuseStandin, startLangSmithStandin, type LangfuseStandin, type LangSmithStandin } from "../../src/pull/standin/index.js";
import { createLogger, scrubValue, secretsFromEnv } from "../../src/runtime/logger.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { runCli, spawnCli, type CliResult } from "../support/cli.js";
import { EXAMPLE_TENANTS } from "../support/expected.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { MAPPINGS } from "../support/stack.js";

/** Every file under `dir`, as [path, text]. */
function filesUnder(dir: string): [string, string][] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => [f, readFileSync(f, "utf8")]);
}

describe("the logger's redaction", () => {
  const secrets = secretsFromEnv({ LAGO_API_KEY: "lago-key-123456", TRACEBILL_DASHBOARD_PASSWORD: "dash-pw-654321", REDIS_URL: "redis://app:r%40dis-pw-777@h:6379" });

  it("knows the configured secret values, Redis's password decoded and encoded", () => {
    for (const s of ["lago-key-123456", "dash-pw-654321", "r@dis-pw-777", "r%40dis-pw-777"]) expect(secrets).toContain(s);
  });

  it("masks secret-named keys at any depth, URL passwords and secret values in any string, errors included", () => {
    const err = new Error("request with lago-key-123456 failed");
    const out = scrubValue(
      {
        headers: { Authorization: "Bearer abc", "X-Api-Key": "abc" },
        deep: { deeper: { apiKey: "k", LANGSMITH_API_KEY: "k", password: "p" } },
        redis: "rediss://app:anything@10.0.0.1:6380/0",
        note: "dash-pw-654321 and r@dis-pw-777",
        err,
      },
      secrets,
    ) as Record<string, unknown>;
    const text = JSON.stringify(out, (_k, v) => (v instanceof Error ? { message: v.message, stack: v.stack } : v));
    for (const s of ["abc", "anything", "lago-key-123456", "dash-pw-654321", "r@dis-pw-777", '"k"', '"p"']) expect(text).not.toContain(s);
    expect(out.redis).toBe("rediss://app:[redacted]@10.0.0.1:6380/0");
    expect(err.message).toBe("request with lago-key-123456 failed"); // the caller's error is left alone
  });

  it("is what createLogger applies (scrubbing is on without options)", () => {
    const logger = createLogger("info", "t", { secrets });
    expect(typeof logger.info).toBe("function");
  });
});

describe("no secret in logs, reports or /metrics of a real run (worker process, sync, pull, reconcile at debug level)", () => {
  const hex = randomBytes(6).toString("hex");
  const redisUser = `tbops-${hex}`;
  const secret = {
    lagoKey: `lagoKEY-${hex}-a1`,
    openmeterKey: `omKEY-${hex}-b2`,
    langsmithKey: `lsv2_pt_${hex}_c3`,
    langfusePublic: `pk-lf-${hex}-d4`,
    langfuseSecret: `sk-lf-${hex}-e5`,
    dashboardPassword: `dashPW-${hex}-f6`,
    redisPassword: `redisPW-${hex}-g7`,
    wrongLangsmithKey: `lsv2_pt_WRONG_${hex}`,
  };
  let sandbox: Sandbox | undefined;
  let langsmith: LangSmithStandin | undefined;
  let langsmithEcho: LangSmithStandin | undefined;
  let langfuse: LangfuseStandin | undefined;
  let admin: Redis | undefined;

  afterAll(async () => {
    await admin?.call("ACL", "DELUSER", redisUser).catch(() => undefined);
    await admin?.quit();
    await sandbox?.stop();
    await langsmith?.stop();
    await langsmithEcho?.stop();
    await langfuse?.stop();
  });

  it("greps every log line, report file, spool file, /metrics, /readyz and dashboard answer for each configured secret", { timeout: 180_000 }, async () => {
    // A Redis user of our own with a password, on the suite's Redis (its default user is left alone).
    admin = new Redis(testRedisUrl());
    await admin.call("ACL", "SETUSER", redisUser, "on", `>${secret.redisPassword}`, "~*", "&*", "+@all");
    const port = new URL(testRedisUrl()).port;
    const redisUrl = `redis://${redisUser}:${encodeURIComponent(secret.redisPassword)}@127.0.0.1:${port}`;

    sandbox = await startSandbox({
      port: 0, seed: demoSeed(EXAMPLE_TENANTS, [{ metric: "llm_tokens", valueProperty: "value" }]),
      lagoApiKey: secret.lagoKey, openmeterApiKey: secret.openmeterKey,
    });
    const seed = await exampleSeed();
    langsmith = await startLangSmithStandin({ apiKey: secret.langsmithKey, runs: seed.runs });
    langsmithEcho = await startLangSmithStandin({ apiKey: secret.langsmithKey, runs: seed.runs, echoCredentialsOnAuthError: true });
    langfuse = await startLangfuseStandin({ publicKey: secret.langfusePublic, secretKey: secret.langfuseSecret, observations: seed.observations, traces: seed.traces });

    const reports = mkdtempSync(join(tmpdir(), "tb-redact-reports-"));
    const out = mkdtempSync(join(tmpdir(), "tb-redact-out-"));
    const spool = mkdtempSync(join(tmpdir(), "tb-redact-spool-"));
    const env: Record<string, string> = {
      LOG_LEVEL: "debug",
      REDIS_URL: redisUrl,
      TRACEBILL_QUEUE_PREFIX: uniquePrefix("redact"),
      MAPPINGS_DIR: MAPPINGS,
      LAGO_API_URL: sandbox.lagoApiUrl, LAGO_API_KEY: secret.lagoKey,
      OPENMETER_URL: sandbox.openmeterUrl, OPENMETER_API_KEY: secret.openmeterKey,
      LANGSMITH_API_URL: langsmith.url, LANGSMITH_API_KEY: secret.langsmithKey, LANGSMITH_PROJECT: langsmith.projects[0]!.name,
      LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: secret.langfusePublic, LANGFUSE_SECRET_KEY: secret.langfuseSecret,
      TRACEBILL_PULL_LAG_MINUTES: "0", TRACEBILL_PULL_WINDOW_MINUTES: "10080", TRACEBILL_PULL_RPM: "100000", TRACEBILL_PULL_SPOOL_DIR: spool,
      TRACEBILL_DASHBOARD: "on", TRACEBILL_DASHBOARD_USER: "ops", TRACEBILL_DASHBOARD_PASSWORD: secret.dashboardPassword,
      TRACEBILL_REPORTS_DIR: reports,
      // Every second, over a year back: the worker's own reconciliation writes reports during the run.
      TRACEBILL_RECONCILE_CRON: "* * * * * *", TRACEBILL_RECONCILE_DAYS: "366",
      TRACEBILL_BACKOFF_MS: "20",
      HTTP_PORT: "0",
    };

    const artifacts: [string, string][] = [];
    const worker = spawnCli(["worker"], env);
    let workerOut = "";
    let workerErr = "";
    worker.stdout?.on("data", (d: Buffer) => (workerOut += d.toString()));
    worker.stderr?.on("data", (d: Buffer) => (workerErr += d.toString()));
    const exited = new Promise<number | null>((r) => worker.once("exit", (code) => r(code)));
    try {
      while (!workerErr.includes("worker running")) {
        if (worker.exitCode !== null) throw new Error(`worker exited early:\n${workerErr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const listening = workerErr.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { msg: string; address?: string; level: number }).find((l) => l.msg.startsWith("HTTP server listening"));
      expect(listening?.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const base = listening!.address!;

      // Failed requests first, so retry reasons are logged too.
      sandbox.setFaults({ lago: { status5xx: 1, limit: 2, retryAfterSeconds: 0 } });
      const runs: [string, CliResult][] = [];
      const cli = async (name: string, args: string[], extra: Record<string, string> = {}) => {
        const r = await runCli(args, { ...env, ...extra }, 120_000);
        runs.push([name, r]);
        return r;
      };
      for (const d of ["lago", "openmeter"]) {
        const r = await cli(`sync ${d}`, ["sync", ...exampleInputs(), "--destination", d, "--wait"]);
        expect(r.code, r.stderr).toBe(0);
      }
      const window = ["--from", "2026-11-19T00:00:00Z", "--to", "2026-11-26T00:00:00Z"];
      const ls = await cli("pull langsmith", ["pull", "langsmith", ...window, "--destination", "lago", "--wait", "--out", join(out, "pull-langsmith")]);
      expect(ls.code, ls.stderr).toBe(0);
      const lf = await cli("pull langfuse", ["pull", "langfuse", ...window, "--destination", "openmeter", "--wait", "--out", join(out, "pull-langfuse")]);
      expect(lf.code, lf.stderr).toBe(0);
      // A refused key against an API that echoes the Authorization header back in its 401 body.
      const refused = await cli("pull with a refused key", ["pull", "langsmith", "--replay", ...window, "--out", join(out, "refused")], {
        LANGSMITH_API_URL: langsmithEcho.url, LANGSMITH_API_KEY: secret.wrongLangsmithKey,
      });
      expect(refused.code).toBe(2);
      for (const d of ["lago", "openmeter"]) {
        const r = await cli(`reconcile ${d}`, ["reconcile", "--destination", d, "--from", "2026-11-01T00:00:00Z", "--to", "2026-12-01T00:00:00Z", "--out", join(out, d)]);
        expect(r.code, r.stdout + r.stderr).toBe(0);
      }
      // The worker's scheduled reconciliation has written its reports for both destinations.
      const scheduled = (d: string) => join(reports, "scheduled", d);
      while (!["lago", "openmeter"].every((d) => existsSync(scheduled(d)) && readdirSync(scheduled(d)).length > 0)) await new Promise((r) => setTimeout(r, 100));

      const auth = { authorization: `Basic ${Buffer.from(`ops:${secret.dashboardPassword}`).toString("base64")}` };
      for (const [path, headers] of [["/metrics", {}], ["/readyz", {}], ["/healthz", {}], ["/dashboard", {}], ["/dashboard", auth], ["/dashboard/api/queues", auth]] as const) {
        const r = await fetch(`${base}${path}`, { headers });
        artifacts.push([`GET ${path}${"authorization" in headers ? " (authenticated)" : ""} → ${r.status}`, await r.text()]);
      }
      const metrics = artifacts[0]![1];
      expect(metrics).toMatch(/^tracebill_events_delivered_total\{destination="lago"\} [1-9]/m);
      expect(metrics).toMatch(/^tracebill_reconcile_runs_total\{destination="openmeter",result="match"\} [1-9]/m);
      expect(artifacts[1]![0]).toContain("→ 200");
      expect(artifacts[5]![0]).toContain("→ 200");
      for (const [name, r] of runs) artifacts.push([`${name} stdout`, r.stdout], [`${name} stderr`, r.stderr]);
    } finally {
      if (worker.exitCode === null) worker.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(workerErr).toContain("worker stopped");
    artifacts.push(["worker stdout", workerOut], ["worker stderr", workerErr], ...filesUnder(reports), ...filesUnder(out), ...filesUnder(spool));

    // The run was real: debug logs (the effective configuration among them, masked), reports in every format, the spooled windows.
    const configLine = workerErr.split("\n").find((l) => l.includes('"msg":"configuration"'));
    expect(configLine).toBeDefined();
    expect(configLine).toContain("[redacted]");
    expect(workerErr).toMatch(/"level":20,.*"msg":"http request"/);
    const names = artifacts.map(([n]) => n);
    for (const ext of ["report.md", "report.json", "report.csv", "report.html"]) expect(names.some((n) => n.endsWith(ext))).toBe(true);
    expect(names.some((n) => n.includes("pull-langsmith") && n.endsWith(".jsonl"))).toBe(true);
    expect(artifacts.length).toBeGreaterThan(20);

    const leaks: string[] = [];
    for (const [name, text] of artifacts) {
      for (const [what, value] of Object.entries(secret)) if (text.includes(value) || text.includes(encodeURIComponent(value))) leaks.push(`${what} in ${name}`);
    }
    expect(leaks).toEqual([]);
  });
});
