import { spawn, type ChildProcess } from "node:child_process";
import { ROOT } from "./stack.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI from source in a child process (tsx), as a user would run `tracebill`. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`tracebill ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(LAGO_|OPENMETER_|REDIS_URL|MAPPINGS_DIR|TRACEBILL_|HTTP_PORT)/.test(k)));
  return spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: ROOT,
    // HTTP_PORT=0: several workers of one test (and parallel test files) each get a free port.
    env: { ...clean, LOG_LEVEL: "warn", HTTP_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}
