import { stringify } from "yaml";
import { checkMappingPath, loadMappingSet, meterDefinitions, renderProblems, summarize, type ProblemFormat } from "../../mapping/index.js";

export interface ValidateOptions {
  /** caret (default on a terminal), compact (default otherwise) or json. */
  format?: ProblemFormat;
  /** Warnings fail the check too (exit 1). */
  denyWarnings?: boolean;
}

type Out = NodeJS.WritableStream & { isTTY?: boolean };

/**
 * Every problem in every mapping file, each with file:line:col, severity and code: under a caret
 * in its source line on a terminal, one compact line each otherwise, or as JSON on stdout.
 * Exit 1 on errors (and on warnings with `denyWarnings`), 0 otherwise.
 */
export async function validateCommand(path: string, opts: ValidateOptions = {}, out: Out = process.stdout, err: Out = process.stderr): Promise<number> {
  const { problems, texts } = await checkMappingPath(path);
  const format = opts.format ?? (err.isTTY ? "caret" : "compact");
  const { errors, warnings } = summarize(problems);
  const failed = errors > 0 || (opts.denyWarnings === true && warnings > 0);
  if (format === "json") {
    out.write(renderProblems(problems, "json"));
    return failed ? 1 : 0;
  }
  err.write(renderProblems(problems, format, texts, { color: format === "caret" && err.isTTY === true && !process.env.NO_COLOR }));
  const counted = [plural(errors, "error"), plural(warnings, "warning")].filter((s) => !s.startsWith("0 ")).join(", ");
  if (failed) {
    err.write(`${counted} found${errors === 0 ? " (--deny-warnings)" : ""}.\n`);
    return 1;
  }
  out.write(`${path}: mappings are valid${warnings > 0 ? ` (${counted})` : ""}.\n`);
  return 0;
}

export interface MetersOptions {
  format?: "yaml" | "json";
  /** Include mappings switched off with `enabled: false`. */
  all?: boolean;
}

/**
 * The Lago billable metrics and OpenMeter meters the mapping set expects: one per metric, a sum
 * of its quantity, grouped by its properties, under each destination's names.
 */
export async function metersCommand(path: string, opts: MetersOptions = {}, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const set = await loadMappingSet(path);
  const defs = meterDefinitions(set, { includeDisabled: opts.all === true });
  if (opts.format === "json") {
    out.write(JSON.stringify(defs, null, 2) + "\n");
    return 0;
  }
  const disabled = (set.disabled ?? []).map((m) => m.name);
  const header = [
    `# Destination definitions for the mapping set at ${path}.`,
    "# lago.billable_metrics[].billable_metric: body of POST /api/v1/billable_metrics; pricing_group_keys:",
    "#   properties with open-ended values, for a charge's properties.pricing_group_keys.",
    "# openmeter.meters[]: body of POST /api/v1/meters.",
    ...(disabled.length > 0 && opts.all !== true ? [`# Not included (enabled: false): ${disabled.join(", ")}; --all lists them too.`] : []),
  ];
  out.write(`${header.join("\n")}\n${stringify(defs, { lineWidth: 0 })}`);
  return 0;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
