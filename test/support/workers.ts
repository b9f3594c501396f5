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
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
