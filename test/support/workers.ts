import type { ChildProcess } from "node:child_process";
import { spawnCli } from "./cli.js";

/** Worker processes of the real CLI, to be killed and restarted by chaos tests. */
export class WorkerPool {
  private readonly procs = new Set<ChildProcess>();
  logs = "";

  constructor(private readonly env: Record<string, string>) {}

  start(): ChildProcess {
    const p = spawnCli(["worker"], this.env);
    p.stderr?.on("data", (d: Buffer) => (this.logs += d.toString()));
    this.procs.add(p);
    p.on("exit", () => this.procs.delete(p));
    return p;
  }

  get running(): number {
    return this.procs.size;
  }

  /** SIGKILL one worker: no shutdown hooks, in-flight jobs and claims are left as they were. */
  async kill9(p?: ChildProcess): Promise<void> {
    const victim = p ?? [...this.procs][0];
    if (!victim) return;
    const exited = new Promise((r) => victim.once("exit", r));
    victim.kill("SIGKILL");
    await exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.procs].map((p) => {
        const exited = new Promise((r) => p.once("exit", r));
        p.kill("SIGTERM");
        return exited;
      }),
    );
  }
}

/** A small seeded PRNG so "random" kill points are reproducible. */
export { seededRandom as seeded } from "../../src/runtime/random.js";
