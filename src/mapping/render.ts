/**
 * @module Problems shown three ways: compact lines for logs and CI, a caret under the column in
 * the source line for people at a terminal, and JSON for tools.
 */
import type { MappingText } from "./load.js";
import { isError, sortProblems, type MappingProblem } from "./problems.js";

export type ProblemFormat = "caret" | "compact" | "json";

/** `file:line:col severity CODE kind: message`. */
export function formatCompact(p: MappingProblem): string {
  const code = p.code ? ` ${p.code}${p.kind ? ` ${p.kind}` : ""}` : "";
  return `${p.file}:${p.line}:${p.col} ${p.severity ?? "error"}${code}: ${p.message}`;
}

export interface CaretOptions {
  /** ANSI colours for the severity and the caret. */
  color?: boolean;
}

/**
 * ```
 * error TB-MAP-001 unknown-key: rules[no-cache-hits]: unknown key 'skip_whn' …
 *   --> mappings/llm-tokens.yaml:5:5
 *    |
 *  5 |     skip_whn: record.cacheHit
 *    |     ^
 * ```
 * The source line is shown as it is; the caret sits under the column (tabs kept so it lines up).
 */
export function formatCaret(p: MappingProblem, text: string | undefined, opts: CaretOptions = {}): string {
  const paint = (code: string, s: string) => (opts.color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const severity = p.severity ?? "error";
  const head = `${paint(severity === "error" ? "1;31" : "1;33", severity)}${p.code ? paint("1", ` ${p.code}${p.kind ? ` ${p.kind}` : ""}`) : ""}: ${p.message}`;
  const where = `  --> ${p.file}:${p.line}:${p.col}`;
  const line = text?.split(/\r?\n/)[p.line - 1];
  if (line === undefined) return `${head}\n${where}`;
  const gutter = String(p.line).length;
  const pad = " ".repeat(gutter);
  const lead = line.slice(0, Math.max(0, p.col - 1)).replace(/[^\t]/g, " ");
  return [head, where, `${pad} |`, `${p.line} | ${line}`, `${pad} | ${lead}${paint(severity === "error" ? "1;31" : "1;33", "^")}`].join("\n");
}

export interface ProblemSummary {
  errors: number;
  warnings: number;
}

export function summarize(problems: readonly MappingProblem[]): ProblemSummary {
  const errors = problems.filter(isError).length;
  return { errors, warnings: problems.length - errors };
}

/** The whole report in one format; `texts` gives the caret view its source lines. */
export function renderProblems(problems: readonly MappingProblem[], format: ProblemFormat, texts: readonly MappingText[] = [], opts: CaretOptions = {}): string {
  const sorted = sortProblems([...problems]);
  if (format === "json") {
    return JSON.stringify({ ...summarize(sorted), problems: sorted.map((p) => ({ severity: p.severity ?? "error", ...p })) }, null, 2) + "\n";
  }
  if (sorted.length === 0) return "";
  if (format === "compact") return sorted.map(formatCompact).join("\n") + "\n";
  const byFile = new Map(texts.map((t) => [t.file, t.text]));
  return sorted.map((p) => formatCaret(p, byFile.get(p.file), opts)).join("\n\n") + "\n";
}
