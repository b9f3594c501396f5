import { describe, expect, it } from "vitest";
import { freePort } from "../../src/runtime/redis-server.js";
import { runCli, spawnCli } from "../support/cli.js";

describe("tracebill sandbox --customers", () => {
  it("starts seeded like the demo: the customers with an active subscription each, and the mappings' metrics", async () => {
    const port = await freePort();
    const proc = spawnCli(["sandbox", "--port", String(port), "--customers", "acme, 10987"]);
    let out = "";
    proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    try {
      for (let i = 0; i < 200 && !out.includes("listening"); i++) await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain(`http://127.0.0.1:${port}`);
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${port}/lago/api/v1${path}`, { headers: { authorization: "Bearer sandbox-lago-key" } });
        expect(res.status).toBe(200);
        return (await res.json()) as Record<string, unknown[]>;
      };
      const subs = (await get("/subscriptions?external_customer_id=10987&status[]=active")).subscriptions as { external_id: string; status: string }[];
      expect(subs.map((s) => [s.external_id, s.status])).toEqual([["sub_10987", "active"]]);
      const metrics = (await get("/billable_metrics")).billable_metrics as { code: string }[];
      expect(metrics.map((m) => m.code)).toContain("llm_tokens");
    } finally {
      const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  });

  it("refuses an empty --customers", async () => {
    const r = await runCli(["sandbox", "--port", "0", "--customers", " , "]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--customers needs at least one customer id");
  });
});
