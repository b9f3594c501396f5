/** @module What is wrong with a mapping file, where (1-based line and column), and how it is shown. */
import { UserError } from "../model/index.js";

export interface MappingProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  message: string;
}

/** `file:line:col message`, the form editors and CI logs link to. */
export function formatProblem(p: MappingProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.message}`;
}

export function sortProblems(problems: MappingProblem[]): MappingProblem[] {
  return [...problems].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col));
}

/** Thrown by `loadMappingSet` when any file has any problem; carries all of them, not just the first. */
export class MappingLoadError extends UserError {
  override name = "MappingLoadError";
  readonly problems: readonly MappingProblem[];

  constructor(problems: MappingProblem[]) {
    const sorted = sortProblems(problems);
    const n = sorted.length;
    super(`${n} problem${n === 1 ? "" : "s"} in mapping files:\n${sorted.map(formatProblem).join("\n")}`, 1);
    this.problems = sorted;
  }
}
