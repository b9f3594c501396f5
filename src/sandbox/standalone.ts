import { startSandbox } from "./server.js";
import type { Sandbox, SandboxOptions } from "./sandbox.js";

export interface StandaloneOptions extends SandboxOptions {
  /** Where the banner goes (default: stdout). */
  print?: (line: string) => void;
  /** Stops the sandbox when aborted, besides SIGTERM / SIGINT (used by tests). */
  signal?: AbortSignal;
  /** Called once the server listens, with the running sandbox. */
  onReady?: (sandbox: Sandbox) => void;
}

/**
 * Runs the sandbox until SIGTERM, SIGINT or `signal`, printing the settings a tracebill process
 * needs to talk to it. Resolves once the server has stopped.
 */
export async function runSandboxStandalone(opts: StandaloneOptions = {}): Promise<void> {
  const print = opts.print ?? ((line: string) => process.stdout.write(line + "\n"));
  const sandbox = await startSandbox(opts);
  print(`tracebill sandbox listening on ${sandbox.url}`);
  print(`  LAGO_API_URL=${sandbox.lagoApiUrl}`);
  print(`  LAGO_API_KEY=${sandbox.lagoApiKey}`);
  print(`  OPENMETER_URL=${sandbox.openmeterUrl}`);
  print(`  OPENMETER_API_KEY=${sandbox.openmeterApiKey}`);
  print(`  admin: GET ${sandbox.url}/_sandbox/state · POST ${sandbox.url}/_sandbox/faults · POST ${sandbox.url}/_sandbox/reset`);
  opts.onReady?.(sandbox);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      opts.signal?.removeEventListener("abort", stop);
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    if (opts.signal?.aborted) stop();
    else opts.signal?.addEventListener("abort", stop, { once: true });
  });
  await sandbox.stop();
  print("tracebill sandbox stopped");
}
