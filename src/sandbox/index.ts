export * from "./sandbox.js";
export { startSandbox, DEFAULT_LAGO_API_KEY, DEFAULT_OPENMETER_API_KEY } from "./server.js";
export { demoSeed, demoSubscriptionId } from "./seed.js";
export { runSandboxStandalone, type StandaloneOptions } from "./standalone.js";
export { faultPlanSchema } from "./faults.js";
