import { formatProblem, validateMappingPath } from "../../mapping/index.js";

/** Every problem in every file, one `file:line:col message` per line; exit 1 if any. */
export async function validateCommand(path: string, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const problems = await validateMappingPath(path);
  for (const p of problems) err.write(`${formatProblem(p)}\n`);
  if (problems.length) {
    err.write(`${problems.length} problem${problems.length === 1 ? "" : "s"} found.\n`);
    return 1;
  }
  out.write(`${path}: mappings are valid.\n`);
  return 0;
}
