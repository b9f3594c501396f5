import { checkConfig, type ConfigEntry, type ConfigProblem } from "../../config/env.js";
import { checkMappingPath, formatCompact, isError, type MappingProblem } from "../../mapping/index.js";
import { table } from "../table.js";

export interface ConfigCheckOptions {
  json?: boolean;
}

export interface ConfigCheckReport {
  valid: boolean;
  /** Every problem of the environment (fatal ones stop start-up; the others leave part of it unused). */
  problems: ConfigProblem[];
  /** Every variable, its effective value (secrets masked) and where it came from. */
  variables: ConfigEntry[];
  mappings: { path: string; errors: number; warnings: number; problems: MappingProblem[] };
}

/**
 * `tracebill config check`: the effective configuration with secrets masked and where each value
 * came from, every problem at once (environment and MAPPINGS_DIR), exit 0 when valid, 2 when not.
 */
export async function configCheckCommand(opts: ConfigCheckOptions = {}, env: NodeJS.ProcessEnv = process.env, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const report = await buildConfigReport(env);
  if (opts.json) {
    out.write(JSON.stringify(report, null, 2) + "\n");
    return report.valid ? 0 : 2;
  }
  const bad = new Set(report.problems.map((p) => p.variable));
  const t = table(["Variable", "Value", "Source"], ["left", "left", "left"]);
  for (const v of report.variables) t.push([`${bad.has(v.variable) ? "✗ " : "  "}${v.variable}`, v.value ?? "", v.source]);
  const lines = [t.toString()];
  const m = report.mappings;
  lines.push(`Mappings (MAPPINGS_DIR ${m.path}): ${m.errors === 0 ? "load" : "do not load"}${m.errors + m.warnings ? ` — ${m.errors} error(s), ${m.warnings} warning(s)` : ""}`);
  for (const p of m.problems) lines.push(`  ${formatCompact(p)}`);
  if (report.problems.length) {
    lines.push(`${report.problems.length} problem${report.problems.length === 1 ? "" : "s"} in the environment:`);
    for (const p of report.problems) lines.push(`  ${p.variable}: ${p.message}${p.fatal ? "" : " (start-up continues without it)"}`);
  }
  lines.push(report.valid ? "configuration is valid" : "configuration is NOT valid");
  out.write(lines.join("\n") + "\n");
  return report.valid ? 0 : 2;
}

export async function buildConfigReport(env: NodeJS.ProcessEnv): Promise<ConfigCheckReport> {
  const { problems, entries } = checkConfig(env);
  const path = entries.find((e) => e.variable === "MAPPINGS_DIR")?.value ?? "./mappings";
  const mappingProblems = (await checkMappingPath(path)).problems;
  const errors = mappingProblems.filter(isError).length;
  return {
    valid: problems.length === 0 && errors === 0,
    problems,
    variables: entries,
    mappings: { path, errors, warnings: mappingProblems.length - errors, problems: mappingProblems },
  };
}
