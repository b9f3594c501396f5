import { formatProblem } from "../../mapping/index.js";
import { loadMappingTests, renderCaseLine, renderFailures, runCase, type RawNormalizers } from "../../mapping/tests/index.js";
import { fromLangfuseObservation } from "../../sources/langfuse/from-observation.js";
import { fromLangSmithRun } from "../../sources/langsmith/from-run.js";

/** `raw:` cases go through the same normalizers as real exports. */
export const SOURCE_NORMALIZERS: RawNormalizers = { langsmith: fromLangSmithRun, langfuse: fromLangfuseObservation };

export interface MappingsTestOptions {
  /** Colour the report; default: when `out` is a terminal and NO_COLOR is unset. */
  color?: boolean;
}

/**
 * Runs the mapping tests at `path` (a `*.test.yaml`, a mapping file, or a directory): one line
 * per case, a field-by-field diff under each failing one, then `N passed, N failed`.
 * Exit 1 when a case fails or a test or mapping file has a problem.
 */
export async function mappingsTestCommand(path: string, opts: MappingsTestOptions = {}, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const color = opts.color ?? wantsColor(out);
  const suite = await loadMappingTests(path, { normalizers: SOURCE_NORMALIZERS });
  let passed = 0;
  let failed = 0;
  const problems = new Set<string>();
  const write = (s: string) => out.write(`${s}\n`);

  for (const p of suite.problems) problems.add(formatProblem(p));
  for (const file of suite.files) {
    write(file.file);
    // A broken mapping set is listed under each test file of its directory, but counted once.
    for (const p of file.problems) {
      const line = formatProblem(p);
      write(`  ${line}`);
      problems.add(line);
    }
    if (file.problems.length) write(`  (cases not run: fix the problems above)`);
    const set = file.set;
    if (set) {
      for (const c of file.cases) {
        const r = runCase(set, c);
        if (r.passed) passed++;
        else failed++;
        write(`  ${renderCaseLine(r, { color })}`);
        if (!r.passed) write(renderFailures(r, { color }, "      "));
      }
    }
    write("");
  }
  for (const p of suite.problems) write(formatProblem(p));
  const n = problems.size;
  write(`${passed} passed, ${failed} failed${n ? `, ${n} problem${n === 1 ? "" : "s"} in test or mapping files` : ""}`);
  return failed > 0 || n > 0 ? 1 : 0;
}

function wantsColor(out: NodeJS.WritableStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== "0") return true;
  return (out as { isTTY?: boolean }).isTTY === true;
}
