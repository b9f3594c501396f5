import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ENV_VARIABLES, loadConfig } from "../../src/config/env.js";

describe(".env.example", () => {
  const text = readFileSync(new URL("../../.env.example", import.meta.url), "utf8");
  const lines = text.split("\n");
  const vars = lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split("=")[0]);

  it("lists every variable tracebill reads, and nothing else", () => {
    expect([...vars].sort()).toEqual([...ENV_VARIABLES].sort());
  });

  it("documents each variable with a comment right above it", () => {
    for (const v of vars) {
      const i = lines.findIndex((l) => l.startsWith(`${v}=`));
      expect(lines[i - 1]?.startsWith("#"), `${v} has no comment`).toBe(true);
    }
  });

  it("holds values the parser accepts", () => {
    const env = Object.fromEntries(lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.split("=")[0], l.slice(l.indexOf("=") + 1)]));
    expect(() => loadConfig(env)).not.toThrow();
  });
});
