import { describe, expect, it } from "vitest";
import { pullCommand } from "../../src/cli/commands/pull.js";
import { UserError } from "../../src/model/index.js";
import { PULL_ENV_VARIABLES, configuredPlatforms, parsePullEnv } from "../../src/pull/settings.js";
import { pullSourceFor } from "../../src/pull/sources.js";

describe("parsePullEnv", () => {
  it("defaults: Langfuse Cloud EU and LangSmith US, 15 min lag, 1 h windows, every 15 min, 30 requests/min", () => {
    const c = parsePullEnv({});
    expect(c).toEqual({
      langfuse: null,
      langsmith: null,
      lagMs: 15 * 60_000,
      windowMs: 60 * 60_000,
      everyMs: 15 * 60_000,
      requestsPerMinute: 30,
      startAt: null,
      spoolDir: "./spool",
      destination: null,
    });
    expect(configuredPlatforms(c)).toEqual([]);
  });

  it("configures a platform only with its full credentials, and says which variable is missing", () => {
    const c = parsePullEnv({
      LANGFUSE_PUBLIC_KEY: "pk-lf-1",
      LANGFUSE_SECRET_KEY: "sk-lf-1",
      LANGFUSE_HOST: "https://us.cloud.langfuse.com",
      LANGFUSE_PULL_TRACES: "false",
      LANGSMITH_API_KEY: "lsv2_x",
      LANGSMITH_PROJECT: "prod-assistants",
      TRACEBILL_PULL_LAG_MINUTES: "0",
      TRACEBILL_PULL_WINDOW_MINUTES: "30",
      TRACEBILL_PULL_START: "2026-11-01T00:00:00Z",
      TRACEBILL_PULL_DESTINATION: "openmeter",
    });
    expect(c.langfuse).toEqual({ host: "https://us.cloud.langfuse.com", publicKey: "pk-lf-1", secretKey: "sk-lf-1", traces: false });
    expect(c.langsmith).toEqual({ apiUrl: "https://api.smith.langchain.com", apiKey: "lsv2_x", project: "prod-assistants" });
    expect(c).toMatchObject({ lagMs: 0, windowMs: 30 * 60_000, startAt: Date.parse("2026-11-01T00:00:00Z"), destination: "openmeter" });
    expect(configuredPlatforms(c)).toEqual(["langfuse", "langsmith"]);

    expect(() => parsePullEnv({ LANGFUSE_PUBLIC_KEY: "pk" })).toThrow("LANGFUSE_SECRET_KEY is missing (set both LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY, or neither)");
    expect(() => parsePullEnv({ LANGSMITH_API_KEY: "k" })).toThrow("LANGSMITH_PROJECT is missing");
  });

  it("names a bad variable without echoing its value, and refuses credentials inside a URL", () => {
    const err = (() => {
      try {
        parsePullEnv({ LANGFUSE_HOST: "https://pk:sk-lf-in-the-url@cloud.langfuse.com", TRACEBILL_PULL_RPM: "lots" });
      } catch (e) {
        return e as Error;
      }
      throw new Error("no error");
    })();
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain("LANGFUSE_HOST: LANGFUSE_HOST must be an absolute http(s) URL without credentials");
    expect(err.message).toContain("TRACEBILL_PULL_RPM");
    expect(err.message).not.toContain("sk-lf-in-the-url");
  });

  it("lists every variable it reads", () => {
    expect(PULL_ENV_VARIABLES).toEqual([
      "LANGFUSE_HOST", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_PULL_TRACES",
      "LANGSMITH_API_URL", "LANGSMITH_API_KEY", "LANGSMITH_PROJECT",
      "TRACEBILL_PULL_LAG_MINUTES", "TRACEBILL_PULL_WINDOW_MINUTES", "TRACEBILL_PULL_EVERY_MINUTES", "TRACEBILL_PULL_RPM",
      "TRACEBILL_PULL_START", "TRACEBILL_PULL_SPOOL_DIR", "TRACEBILL_PULL_DESTINATION",
    ]);
  });

  it("a source for an unconfigured platform is a UserError naming the variables", () => {
    expect(() => pullSourceFor("langsmith", parsePullEnv({}))).toThrow(/LANGSMITH_API_KEY and LANGSMITH_PROJECT/);
  });
});

describe("pullCommand arguments", () => {
  it("refuses an unknown platform, a pull with nowhere to go, and a replay without a start", async () => {
    await expect(pullCommand("helicone", { out: "x" }, { env: {} })).rejects.toThrow('pull takes langfuse or langsmith (got "helicone")');
    await expect(pullCommand("langfuse", {}, { env: {} })).rejects.toThrow(/give --out DIR .* or --destination lago\|openmeter/);
    await expect(pullCommand("langfuse", { out: "x", replay: true }, { env: {} })).rejects.toThrow("--replay needs --from");
    await expect(pullCommand("langfuse", { out: "x" }, { env: {} })).rejects.toThrow(/LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY/);
  });
});
