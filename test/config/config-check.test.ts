import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { configCheckCommand, type ConfigCheckReport } from "../../src/cli/commands/config.js";
import { checkConfig, loadConfig } from "../../src/config/env.js";
import { UserError } from "../../src/model/index.js";
import { parseRedisTarget } from "../../src/runtime/redis-client.js";
import { runCli } from "../support/cli.js";
import { MAPPINGS } from "../support/stack.js";

async function check(env: Record<string, string>, json = false): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  const code = await configCheckCommand({ json }, { MAPPINGS_DIR: MAPPINGS, ...env }, out);
  return { code, text };
}

const SECRETS = {
  LAGO_API_KEY: "lago-secret-key-0001",
  OPENMETER_API_KEY: "om-secret-key-0002",
  TRACEBILL_DASHBOARD_PASSWORD: "dash-secret-0003",
  LANGFUSE_PUBLIC_KEY: "pk-lf-secret-0004",
  LANGFUSE_SECRET_KEY: "sk-lf-secret-0005",
  LANGSMITH_API_KEY: "ls-secret-0006",
};

describe("checkConfig / loadConfig: every problem at once", () => {
  it("gathers zod issues, cross-field problems and pull problems together", () => {
    const env = {
      REDIS_URL: "http://127.0.0.1:6379",
      TRACEBILL_DELIVERY_CONCURRENCY: "0",
      TRACEBILL_DASHBOARD: "on",
      TRACEBILL_DASHBOARD_USER: "ops",
      LANGFUSE_PUBLIC_KEY: "pk",
      LANGSMITH_PROJECT: "p",
      TRACEBILL_PULL_RPM: "-1",
      LAGO_API_URL: "https://api.getlago.com",
      REDIS_CLUSTER_NODES: "a:1,b",
    };
    const { problems, config } = checkConfig(env);
    expect(config).toBeNull();
    expect(problems.map((p) => p.variable)).toEqual([
      "REDIS_URL", "REDIS_CLUSTER_NODES", "LAGO_API_KEY", "TRACEBILL_DELIVERY_CONCURRENCY", "TRACEBILL_DASHBOARD",
      "LANGFUSE_SECRET_KEY", "LANGSMITH_API_KEY", "TRACEBILL_PULL_RPM",
    ]);
    expect(problems.find((p) => p.variable === "LAGO_API_KEY")!.fatal).toBe(false);
    expect(problems.find((p) => p.variable === "TRACEBILL_DASHBOARD")!.message).toMatch(/TRACEBILL_DASHBOARD_PASSWORD is missing/);
    // loadConfig names every fatal one in one error.
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    for (const v of ["REDIS_URL", "REDIS_CLUSTER_NODES", "TRACEBILL_DELIVERY_CONCURRENCY", "TRACEBILL_DASHBOARD", "LANGFUSE_SECRET_KEY", "LANGSMITH_API_KEY", "TRACEBILL_PULL_RPM"]) {
      expect((err as Error).message).toContain(`  ${v}: `);
    }
    // A half-set destination is reported, but does not stop start-up (it is simply not used).
    expect(() => loadConfig({ LAGO_API_URL: "https://api.getlago.com" })).not.toThrow();
    expect(checkConfig({ LAGO_API_URL: "https://api.getlago.com" }).problems).toHaveLength(1);
  });

  it("checks the Redis TLS and cluster settings against REDIS_URL", () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-cfg-"));
    const notPem = join(dir, "ca.txt");
    writeFileSync(notPem, "hello");
    const vars = (env: Record<string, string>) => checkConfig(env).problems.map((p) => `${p.variable}: ${p.message}`);
    expect(vars({ REDIS_TLS_CA_FILE: notPem })).toEqual(["REDIS_TLS_CA_FILE: is set but REDIS_URL is not rediss:// (TLS)"]);
    expect(vars({ REDIS_URL: "rediss://h:6380", REDIS_TLS_CA_FILE: notPem })).toEqual([`REDIS_TLS_CA_FILE: ${notPem} holds no PEM certificate`]);
    expect(vars({ REDIS_URL: "rediss://h:6380", REDIS_TLS_CA_FILE: join(dir, "missing.pem") })[0]).toMatch(/cannot read .*missing\.pem: ENOENT/);
    expect(vars({ REDIS_TLS_INSECURE: "true" })).toEqual(["REDIS_TLS_INSECURE: is set but REDIS_URL is not rediss:// (TLS)"]);
    expect(vars({ REDIS_URL: "redis://h/3", REDIS_CLUSTER_NODES: "h:7000" })[0]).toMatch(/^REDIS_URL: a Redis Cluster has only database 0/);
    expect(vars({ REDIS_URL: "rediss://:pw@h:6380", REDIS_TLS_INSECURE: "yes", REDIS_CLUSTER_NODES: "10.0.0.1:7000, [::1]:7001" })).toEqual([]);
  });

  it("folds TLS and cluster settings into the connection string every connection is opened from", () => {
    const c = loadConfig({ REDIS_URL: "rediss://app:p%40ss@h:6380", REDIS_TLS_INSECURE: "true", REDIS_CLUSTER_NODES: "10.0.0.1:7000,[::1]:7001" });
    expect(parseRedisTarget(c.redisUrl)).toEqual({
      tls: true, username: "app", password: "p@ss", db: 0, host: "h", port: 6380, insecure: true,
      clusterNodes: [{ host: "10.0.0.1", port: 7000 }, { host: "::1", port: 7001 }],
    });
    // Nothing extra on a plain URL.
    expect(loadConfig({ REDIS_URL: "redis://127.0.0.1:6379" }).redisUrl).toBe("redis://127.0.0.1:6379");
  });
});

describe("tracebill config check", () => {
  it("prints the effective config with secrets masked and where each value came from; exit 0 when valid", async () => {
    const env = {
      ...SECRETS,
      REDIS_URL: "rediss://default:redis-pass-0007@redis.internal:6380/0",
      LAGO_API_URL: "https://api.getlago.com",
      OPENMETER_URL: "https://openmeter.cloud",
      TRACEBILL_DASHBOARD: "on",
      TRACEBILL_DASHBOARD_USER: "ops",
      LANGSMITH_PROJECT: "prod",
      HTTP_PORT: "9000",
    };
    const table = await check(env);
    expect(table.code, table.text).toBe(0);
    expect(table.text).toContain("configuration is valid");
    expect(table.text).toMatch(/REDIS_URL\s+│ rediss:\/\/default:\*\*\*\*\*\*\*\*@redis\.internal:6380\/0\s+│ env/);
    expect(table.text).toMatch(/HTTP_PORT\s+│ 9000\s+│ env/);
    expect(table.text).toMatch(/TRACEBILL_DELIVERY_CONCURRENCY\s+│ 4\s+│ default/);
    expect(table.text).toMatch(/TRACEBILL_RECONCILE_CRON\s+│\s+│ unset/);
    expect(table.text).toMatch(/LAGO_API_KEY\s+│ \*\*\*\*\*\*\*\*\s+│ env/);
    expect(table.text).toMatch(/Mappings \(MAPPINGS_DIR .*mappings\): load/);
    const json = await check(env, true);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.text) as ConfigCheckReport;
    expect(report.valid).toBe(true);
    expect(report.variables.find((v) => v.variable === "LANGFUSE_SECRET_KEY")).toEqual({ variable: "LANGFUSE_SECRET_KEY", value: "********", source: "env", secret: true });
    expect(report.variables.find((v) => v.variable === "LOG_LEVEL")).toEqual({ variable: "LOG_LEVEL", value: "info", source: "default", secret: false });
    for (const secret of [...Object.values(SECRETS), "redis-pass-0007"]) {
      expect(table.text).not.toContain(secret);
      expect(json.text).not.toContain(secret);
    }
  });

  it("reports every problem, mapping problems included, and exits 2 — without echoing secrets", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-cfg-maps-"));
    writeFileSync(join(dir, "broken.yaml"), "name: broken\nmetricz: []\n");
    const env = { ...SECRETS, MAPPINGS_DIR: dir, TRACEBILL_DASHBOARD: "on", TRACEBILL_DASHBOARD_PASSWORD: "short", LANGSMITH_PROJECT: "", LAGO_API_URL: "not a url", OPENMETER_URL: "https://meter:pasted-password-0008@openmeter.cloud", LOG_LEVEL: "loud" };
    const r = await check(env);
    expect(r.code).toBe(2);
    expect(r.text).toContain("configuration is NOT valid");
    expect(r.text).toMatch(new RegExp(`${dir}/broken\\.yaml:2:1 error`));
    for (const v of ["LAGO_API_URL", "TRACEBILL_DASHBOARD", "TRACEBILL_DASHBOARD_PASSWORD", "LANGSMITH_PROJECT", "LOG_LEVEL"]) expect(r.text).toMatch(new RegExp(`^  ${v}: `, "m"));
    expect(r.text).toMatch(/^│ ✗ TRACEBILL_DASHBOARD_PASSWORD\s+│ \*{8}\s+│ env/m);
    for (const secret of [...Object.values(SECRETS), "short", "pasted-password-0008"]) expect(r.text).not.toContain(secret);
    expect(r.text).toContain("https://meter:********@openmeter.cloud");
    const json = JSON.parse((await check(env, true)).text) as ConfigCheckReport;
    expect(json.valid).toBe(false);
    expect(json.mappings.errors).toBeGreaterThan(0);
    expect(json.problems.length).toBe(5);
  });

  it("as a process: exit 0 on the defaults, exit 2 with the problems on stdout when invalid", async () => {
    const ok = await runCli(["config", "check"], {});
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const bad = await runCli(["config", "check"], { TRACEBILL_MAX_ATTEMPTS: "1000", REDIS_URL: "redis://:topsecret@h:1" });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/^ {2}TRACEBILL_MAX_ATTEMPTS: /m);
    expect(bad.stdout + bad.stderr).not.toContain("topsecret");
  });
});
