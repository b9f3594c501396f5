/**
 * `tracebill mappings test [PATH]`, through its command function with a string stream (the
 * command is registered in src/cli/program.ts).
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mappingsTestCommand } from "../../src/cli/commands/mappings-test.js";

const SHIPPED = fileURLToPath(new URL("../../mappings", import.meta.url));

function capture(isTTY = false): { stream: NodeJS.WritableStream; text: () => string } {
  let text = "";
  const stream = { isTTY, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream;
  return { stream, text: () => text };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tracebill-mappings-test-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The shipped llm-tokens policy and its tests, with the mapping edited by `edit`. */
async function shippedCopy(edit: (yaml: string) => string = (y) => y): Promise<void> {
  const yaml = await readFile(join(SHIPPED, "llm-tokens.yaml"), "utf8");
  const edited = edit(yaml);
  await writeFile(join(dir, "llm-tokens.yaml"), edited);
  await copyFile(join(SHIPPED, "llm-tokens.test.yaml"), join(dir, "llm-tokens.test.yaml"));
}

describe("tracebill mappings test", () => {
  it("passes the shipped tests and exits 0", async () => {
    const out = capture();
    const code = await mappingsTestCommand(SHIPPED, { color: false }, out.stream);
    expect(code, out.text()).toBe(0);
    expect(out.text()).toContain("✓ prompt-cache reads are not billed");
    expect(out.text()).toMatch(/\n\d+ passed, 0 failed\n$/);
    expect(out.text()).not.toContain("✗");
  });

  it("shows what a mapping edit breaks, field by field, and exits 1", async () => {
    // The edit bills prompt-cache reads as input.
    const quantity = "quantity: record.usage.input - record.usage.cacheRead";
    await shippedCopy((y) => {
      expect(y, "the shipped mapping no longer bills input this way; update this test").toContain(quantity);
      return y.replace(quantity, "quantity: record.usage.input");
    });
    const out = capture();
    expect(await mappingsTestCommand(dir, { color: false }, out.stream)).toBe(1);
    const text = out.text();
    const file = join(dir, "llm-tokens.test.yaml");
    expect(text).toContain(
      [
        `  ✗ prompt-cache reads are not billed (${file}:43:5)`,
        '      event 1 { customer: "acme", value: 400, properties: { type: "input" } }',
        "        value: expected 400, got 1000",
      ].join("\n"),
    );
    // 500 input, all of it read from the cache: the edit adds an input event the test did not expect.
    expect(text).toContain(
      [
        `  ✗ a call served entirely from the prompt cache bills only its output (${file}:50:5)`,
        '      unexpected event { customer: "acme", metric: "llm_tokens", value: 500, properties: { model: "gpt-4o", type: "input" } }',
      ].join("\n"),
    );
    expect(text).toContain("  ✓ prompt-cache writes are billed as input");
    // Four cases have cache reads: the two above, reads+writes in one call, and the Langfuse buckets.
    const failed = text.split("\n").filter((l) => l.startsWith("  ✗ ")).length;
    expect(failed).toBe(4);
    expect(text).toMatch(new RegExp(`\\n(\\d+) passed, 4 failed\\n$`));
    expect(text).not.toContain("\u001b[");
  });

  it("exits 1 on an invalid test file, listing its problems as file:line:col", async () => {
    await shippedCopy();
    await writeFile(join(dir, "more.test.yaml"), "cases:\n  - name: typo\n    recrod: {}\n    expect: { events: [] }\n");
    const out = capture();
    expect(await mappingsTestCommand(dir, { color: false }, out.stream)).toBe(1);
    const text = out.text();
    expect(text).toContain(`${join(dir, "more.test.yaml")}:3:5 cases[typo]: unknown key 'recrod' (did you mean 'record'?)`);
    expect(text).toMatch(/\n\d+ passed, 0 failed, 2 problems in test or mapping files\n$/);
  });

  it("exits 1 when there is nothing to test at the path", async () => {
    const out = capture();
    expect(await mappingsTestCommand(dir, { color: false }, out.stream)).toBe(1);
    expect(out.text()).toBe(`${dir}:1:1 no mapping tests (*.test.yaml) in this directory\n0 passed, 0 failed, 1 problem in test or mapping files\n`);
  });

  it("colours the report on a terminal unless NO_COLOR is set", async () => {
    await shippedCopy((y) => y.replace("skip_when: record.cacheHit", "skip_when: 'false'"));
    const tty = capture(true);
    const before = process.env.NO_COLOR;
    delete process.env.NO_COLOR;
    try {
      expect(await mappingsTestCommand(dir, {}, tty.stream)).toBe(1);
      expect(tty.text()).toContain("\u001b[31m✗\u001b[39m response-cache hits are not billed");
      process.env.NO_COLOR = "1";
      const plain = capture(true);
      await mappingsTestCommand(dir, {}, plain.stream);
      expect(plain.text()).toContain("✗ response-cache hits are not billed");
      expect(plain.text()).not.toContain("\u001b[");
    } finally {
      if (before === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = before;
    }
  });
});
