/** @module What is wrong with a mapping file, where (1-based line and column), how bad, and how it is shown. */
import { UserError } from "../model/index.js";

export type Severity = "error" | "warning";

/**
 * Every kind of problem the loader reports, with its stable code. Codes never change meaning
 * and are never reused; new kinds get new numbers (errors 0xx, warnings 1xx).
 */
export const PROBLEM_KINDS = {
  "unknown-key": { code: "TB-MAP-001", severity: "error", summary: "A key the language does not have (often a typo); the message lists the allowed keys." },
  "missing-key": { code: "TB-MAP-002", severity: "error", summary: "A required key is missing." },
  "wrong-type": { code: "TB-MAP-003", severity: "error", summary: "A value of the wrong kind (text where a list is expected, …)." },
  "invalid-value": { code: "TB-MAP-004", severity: "error", summary: "A value the language does not accept (a name with spaces, an empty list, a param value not in one_of, …)." },
  "yaml-syntax": { code: "TB-MAP-005", severity: "error", summary: "The file is not valid YAML (or holds more than one document)." },
  "empty-file": { code: "TB-MAP-006", severity: "error", summary: "The file holds no mapping." },
  "unreadable": { code: "TB-MAP-007", severity: "error", summary: "The file or directory cannot be read, or a directory holds no mapping files." },
  "cel-syntax": { code: "TB-MAP-010", severity: "error", summary: "An expression is not valid CEL." },
  "cel-type": { code: "TB-MAP-011", severity: "error", summary: "An expression reads something that does not exist or combines values of the wrong types." },
  "cel-result": { code: "TB-MAP-012", severity: "error", summary: "An expression gives the wrong kind of value for its place (a quantity that gives text, …)." },
  "duplicate-rule": { code: "TB-MAP-020", severity: "error", summary: "Two rules share a name, so a skip reason could not say which one matched." },
  "duplicate-event-key": { code: "TB-MAP-021", severity: "error", summary: "Two events of a metric share a key, so they would share an idempotency key." },
  "duplicate-mapping": { code: "TB-MAP-022", severity: "error", summary: "Two mappings of a set share a name." },
  "metric-conflict": { code: "TB-MAP-023", severity: "error", summary: "Mappings disagree about a metric (its value property or destination names), or two metrics meet under one destination name." },
  "property-collision": { code: "TB-MAP-024", severity: "error", summary: "A property would overwrite the quantity or a property tracebill sets itself, or two properties get one destination name." },
  "reserved-param": { code: "TB-MAP-025", severity: "error", summary: "A param tracebill reads itself has a value of the wrong kind." },
  "skips-everything": { code: "TB-MAP-101", severity: "warning", summary: "A rule skips every record: nothing after it can bill." },
  "never-skips": { code: "TB-MAP-102", severity: "warning", summary: "A rule can never match." },
  "zero-quantity": { code: "TB-MAP-103", severity: "warning", summary: "A quantity is always 0, so its event never fires (a metric whose events all do so never fires)." },
  "constant-customer": { code: "TB-MAP-104", severity: "warning", summary: "The customer is the same for every record: everything is billed to one customer." },
  "unused-param": { code: "TB-MAP-105", severity: "warning", summary: "A param no expression reads." },
  "param-value-typo": { code: "TB-MAP-106", severity: "warning", summary: "An expression compares a param with a value outside its one_of: that comparison never holds." },
  "unused-rename": { code: "TB-MAP-107", severity: "warning", summary: "A destination rename names a property the metric does not have." },
} as const satisfies Record<string, { code: string; severity: Severity; summary: string }>;

export type ProblemKind = keyof typeof PROBLEM_KINDS;

export interface MappingProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  message: string;
  /** Stable code, e.g. `TB-MAP-001`. Set on every problem the mapping loader reports. */
  code?: string;
  /** The code's name, e.g. `unknown-key`. */
  kind?: ProblemKind;
  /** Absent means error. */
  severity?: Severity;
  /** Dotted path of the offending value, e.g. `rules[no-cache-hits].skip_when`. */
  path?: string;
}

/** Stamps a problem with its kind's code and severity. */
export function classified(p: MappingProblem, kind: ProblemKind, path?: string): MappingProblem {
  const { code, severity } = PROBLEM_KINDS[kind];
  return { ...p, code, kind, severity, ...(path ? { path } : {}) };
}

export const isError = (p: MappingProblem): boolean => (p.severity ?? "error") === "error";

/** `file:line:col message`, the form editors and CI logs link to. */
export function formatProblem(p: MappingProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.message}`;
}

export function sortProblems(problems: MappingProblem[]): MappingProblem[] {
  return [...problems].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col));
}

/** Thrown by `loadMappingSet` when any file has an error; carries all of them (warnings do not stop a load). */
export class MappingLoadError extends UserError {
  override name = "MappingLoadError";
  readonly problems: readonly MappingProblem[];

  constructor(problems: MappingProblem[]) {
    const sorted = sortProblems(problems.filter(isError));
    const n = sorted.length;
    super(`${n} problem${n === 1 ? "" : "s"} in mapping files:\n${sorted.map(formatProblem).join("\n")}`, 1);
    this.problems = sorted;
  }
}
