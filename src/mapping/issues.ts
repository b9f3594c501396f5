/** @module zod issues → positioned problems in words a mapping author understands. */
import type * as z from "zod";
import { labelOf } from "./compile.js";
import { classified, type MappingProblem, type ProblemKind } from "./problems.js";
import { MappingSchema } from "./schema.js";
import { allowedKeysAt, type Path } from "./schema-walk.js";
import { closest } from "./suggest.js";
import type { YamlSource } from "./yaml-source.js";

type Issue = z.core.$ZodIssue;

export function schemaProblems(source: YamlSource, data: unknown, issues: readonly Issue[]): MappingProblem[] {
  return issues.flatMap((issue) => explain(source, data, issue, []));
}

function explain(source: YamlSource, data: unknown, issue: Issue, base: Path): MappingProblem[] {
  const path = [...base, ...(issue.path as (string | number)[])];
  const label = labelOf(path, data);
  const kind: ProblemKind = issue.code === "invalid_type" || issue.code === "invalid_union" ? "wrong-type" : "invalid-value";
  const say = (message: string, on: "key" | "value" = "value") => classified(source.problem(path, label ? `${label}: ${message}` : message, on), kind, label);
  const value = valueAt(data, path);

  if (issue.code === "unrecognized_keys") {
    const allowed = allowedKeysAt(MappingSchema, data, path) ?? [];
    return issue.keys.map((key) => {
      const guess = closest(key, allowed);
      const message = `unknown key '${key}'${guess ? ` (did you mean '${guess}'?)` : ""}; allowed here: ${allowed.join(", ")}`;
      return classified(source.problem([...path, key], label ? `${label}: ${message}` : message, "key"), "unknown-key", labelOf([...path, key], data));
    });
  }
  if (value === undefined && path.length > 0 && (issue.code === "invalid_type" || issue.code === "invalid_union")) {
    const parent = path.slice(0, -1);
    const where = labelOf(parent, data);
    return [classified(source.problem(path, `${where ? `${where}: ` : ""}missing required key '${String(path.at(-1))}'`), "missing-key", label)];
  }
  if (issue.code === "invalid_union") {
    // When the value matched one branch's container (e.g. a list), that branch's inner issues are the real ones.
    const shallow = new Set(["invalid_type", "invalid_union"]);
    const branch = issue.errors.find((errs) => errs.some((e) => e.path.length > 0 || !shallow.has(e.code)));
    if (branch) return branch.flatMap((inner) => explain(source, data, inner, path));
    return [say(`${issue.message}, got ${describe(value)}`)];
  }
  if (issue.code === "invalid_type") {
    const expected = issue.message.startsWith("Invalid input") ? `expected ${EXPECTED[issue.expected] ?? issue.expected}` : issue.message;
    return [say(`${expected}, got ${describe(value)}`)];
  }
  if (issue.code === "invalid_key") {
    const where = labelOf(path.slice(0, -1), data);
    const message = `invalid name '${String(path.at(-1))}': ${issue.issues[0]?.message ?? issue.message}`;
    return [classified(source.problem(path, where ? `${where}: ${message}` : message, "key"), "invalid-value", label)];
  }
  return [say(issue.message)];
}

/** Zod type names in words a mapping author reads. */
export const EXPECTED: Record<string, string> = {
  string: "text",
  number: "a number",
  boolean: "true or false",
  array: "a list",
  object: "a map (key: value lines)",
  record: "a map (key: value lines)",
};

/** A value as a problem message shows it ("text \"abc\"", "a list", …). */
export function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "an empty value";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return `text "${v.length > 40 ? `${v.slice(0, 37)}...` : v}"`;
  if (typeof v === "number") return `the number ${v}`;
  return String(v);
}

/** The value at a zod issue path in the parsed document. */
export function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const segment of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[segment];
  }
  return v;
}
