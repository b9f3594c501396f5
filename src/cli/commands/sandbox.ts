import { runSandboxStandalone } from "../../sandbox/index.js";

export interface SandboxOptions {
  port: string;
  lagoKey: string;
  openmeterKey: string;
}

/** Runs the local Lago/OpenMeter-compatible sandbox until SIGTERM/SIGINT. */
export async function sandboxCommand(opts: SandboxOptions): Promise<number> {
  await runSandboxStandalone({ port: Number(opts.port), lagoApiKey: opts.lagoKey, openmeterApiKey: opts.openmeterKey });
  return 0;
}
