// Entry point for the SIGTERM test: runs the sandbox the way `tracebill sandbox` does.
import { runSandboxStandalone } from "../../src/sandbox/index.js";

await runSandboxStandalone({ port: 0 });
