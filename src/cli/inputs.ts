import { UserError, type Platform } from "../model/index.js";
import { expandInputs } from "../sources/registry.js";
import type { Container, DetectOverride } from "../sources/source.js";

const PLATFORMS: readonly Platform[] = ["langsmith", "langfuse"];
const CONTAINERS: readonly Container[] = ["json-array", "jsonl", "json-document", "csv", "parquet"];

export interface InputOptions {
  source?: string;
  inputFormat?: string;
}

/** --source / --input-format: tell detection what not to guess (content decides the rest). */
export function overrideOf(o: InputOptions): DetectOverride | undefined {
  if (o.source && !PLATFORMS.includes(o.source as Platform)) throw new UserError(`--source must be one of ${PLATFORMS.join(", ")} (got "${o.source}")`);
  if (o.inputFormat && !CONTAINERS.includes(o.inputFormat as Container)) {
    throw new UserError(`--input-format must be one of ${CONTAINERS.join(", ")} (got "${o.inputFormat}")`);
  }
  if (!o.source && !o.inputFormat) return undefined;
  return { ...(o.source ? { platform: o.source as Platform } : {}), ...(o.inputFormat ? { container: o.inputFormat as Container } : {}) };
}

/** Files, directories (recursively) and globs → the files to read, each once. */
export async function resolveInputs(args: string[]): Promise<string[]> {
  return expandInputs(args);
}
