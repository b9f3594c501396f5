import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { SyncBars, syncCommand } from "../../src/cli/commands/sync.js";
import type { SyncSnapshot } from "../../src/queue/progress.js";
import { EXAMPLE_TENANTS } from "../support/expected.js";
import { MAPPINGS, startStack, type Stack } from "../support/stack.js";

/** A stream that says it is (or is not) a terminal and keeps everything written to it. */
class FakeStream extends Writable {
  text = "";
  columns = 160;
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/**
 * What a terminal would have shown, frame by frame: each bar is drawn from column 1 (CSI 1 G),
 * so that starts a new line here; the other escape codes (cursor moves, clears) are dropped.
 */
// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\x1b\[1G/g, "\n").replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, "");

describe("sync --wait progress", () => {
  let stack: Stack | undefined;
  const saved = { ...process.env };
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
    process.env = { ...saved };
  });

  async function run(tty: boolean): Promise<{ code: number; out: FakeStream; err: FakeStream }> {
    stack ??= await startStack({ customers: EXAMPLE_TENANTS });
    // syncCommand reads its config from the environment, as the CLI does.
    process.env.REDIS_URL = stack.config.redisUrl;
    process.env.TRACEBILL_QUEUE_PREFIX = stack.config.queuePrefix;
    process.env.MAPPINGS_DIR = MAPPINGS;
    const out = new FakeStream(tty);
    const err = new FakeStream(tty);
    const code = await syncCommand(exampleInputs(), { destination: "lago", wait: true }, { out, err });
    return { code, out, err };
  }

  it("on a terminal: draws a records bar and an events bar that end on the final numbers, then the summary", async () => {
    const { code, out, err } = await run(true);
    expect(code).toBe(0);
    const drawn = plain(err.text);
    // The last frame of each bar: full, with the final counts.
    const last = (label: string) => drawn.split("\n").filter((l) => l.startsWith(label)).at(-1)!;
    expect(last("records read")).toBe(`records read      [${"█".repeat(30)}] 71 records, 2 quarantined, 41 skipped — done`);
    expect(last("events delivered")).toBe(`events delivered  [${"█".repeat(30)}] 59/59 events (59 delivered, 0 already held, 0 dead-lettered)`);
    expect(err.text).toContain("\x1b[?25l"); // cursor hidden while drawing …
    expect(err.text).toContain("\x1b[?25h"); // … and shown again
    // The summary is the same as without a terminal.
    expect(out.text).toMatch(/^enqueued sync [0-9a-f-]{36} \(3 inputs → lago\)\nsync [0-9a-f-]{36} → lago\n/);
    expect(out.text).toContain("\n  events:       59\n  delivered:    59\n");
    expect(out.text).not.toContain("█");
  });

  it("not on a terminal: plain lines only (no bars, no escape codes), the same summary", async () => {
    const first = await run(false);
    expect(first.code).toBe(0);
    expect(first.err.text).toBe("");
    expect(first.out.text).not.toContain("\x1b");
    expect(first.out.text).not.toMatch(/[█░]/);
    const lines = first.out.text.split("\n");
    expect(lines[0]).toMatch(/^enqueued sync [0-9a-f-]{36} \(3 inputs → lago\)$/);
    expect(lines.slice(1, 9)).toEqual([
      expect.stringMatching(/^sync [0-9a-f-]{36} → lago$/),
      "  events:       59",
      "  delivered:    59",
      "  already held: 0  (delivered before, or the same call twice in the input; not sent twice)",
      "  dead-lettered: 0",
      "  skipped:      41  (not billable by the mapping policy)",
      "  quarantined:  2  (malformed input records)",
      "  waiting:      0  (no customer yet; held until their trace context arrives, never billed to a guess)",
    ]);
    // A second sync on a terminal: everything is already held, and the bar says so.
    const again = await run(true);
    expect(plain(again.err.text)).toContain("59/59 events (0 delivered, 59 already held, 0 dead-lettered)");
  });

  it("the bars follow a sync while it runs: events still open show as an unfinished bar", () => {
    const err = new FakeStream(true);
    const bars = new SyncBars(err);
    const snap: SyncSnapshot = {
      syncId: "s", destination: "lago", ingestDone: false, error: null, warning: null, events: 0, delivered: 10, already: 0, dead: 0,
      skipped: 0, skipReasons: {}, quarantined: 0, quarantine: [], parked: 0, perInput: {}, settled: 10,
    };
    bars.update(snap, { recordsRead: 500, quarantined: 1, eventsMapped: 40 });
    bars.stop();
    const drawn = plain(err.text);
    expect(drawn).toContain(`events delivered  [${"█".repeat(8)}${"░".repeat(22)}] 10/40+ events (10 delivered, 0 already held, 0 dead-lettered)`);
    expect(drawn).toContain("500 records, 1 quarantined, 0 skipped — reading…");
  });
});
