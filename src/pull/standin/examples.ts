import { startLangSmithStandin, type LangSmithStandin } from "./langsmith.js";
import { startLangfuseStandin, type LangfuseStandin } from "./langfuse.js";
import { exampleSeed } from "./seed.js";
import type { StandinOptions } from "./server.js";

export interface ExampleStandins {
  langfuse: LangfuseStandin;
  langsmith: LangSmithStandin;
  /** The pull settings that point tracebill at both stand-ins (merge into the environment). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Both stand-ins on free ports, serving examples/ (for the demo: `pull` against "live" APIs with
 * the same per-tenant totals as the example files).
 */
export async function startExampleStandins(opts: StandinOptions = {}): Promise<ExampleStandins> {
  const seed = await exampleSeed();
  const langfuse = await startLangfuseStandin({ ...opts, observations: seed.observations, traces: seed.traces });
  const langsmith = await startLangSmithStandin({ ...opts, runs: seed.runs });
  return {
    langfuse,
    langsmith,
    env: {
      LANGFUSE_HOST: langfuse.url,
      LANGFUSE_PUBLIC_KEY: langfuse.publicKey,
      LANGFUSE_SECRET_KEY: langfuse.secretKey,
      LANGSMITH_API_URL: langsmith.url,
      LANGSMITH_API_KEY: langsmith.apiKey,
      LANGSMITH_PROJECT: langsmith.projects[0]!.name,
    },
    stop: async () => {
      await langfuse.stop();
      await langsmith.stop();
    },
  };
}
