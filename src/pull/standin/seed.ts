import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { packageRoot } from "../../runtime/paths.js";

type Json = Record<string, unknown>;

/**
 * The JSON objects of an export file (JSON array or JSONL) to seed a stand-in with. Lines that
 * are not JSON objects are left out: the bundled examples keep a line cut off mid-write, which
 * an API would never have served.
 */
export async function readSeedFile(path: string): Promise<Json[]> {
  const text = (await readFile(path, "utf8")).replace(/^\uFEFF/, "");
  if (text.trimStart().startsWith("[")) return (JSON.parse(text) as unknown[]).filter(isObject);
  const out: Json[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (isObject(v)) out.push(v);
    } catch {
      // a torn line: not something the API returns
    }
  }
  return out;
}

/** The bundled examples/ as stand-in seed: LangSmith runs, Langfuse observations and traces. */
export async function exampleSeed(root = packageRoot()): Promise<{ runs: Json[]; observations: Json[]; traces: Json[] }> {
  return {
    runs: await readSeedFile(join(root, "examples/langsmith/runs.jsonl")),
    observations: await readSeedFile(join(root, "examples/langfuse/observations.jsonl")),
    traces: await readSeedFile(join(root, "examples/langfuse/traces.json")),
  };
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
