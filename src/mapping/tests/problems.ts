/** @module zod issues on a test file → positioned problems, worded like the mapping loader's. */
import type * as z from "zod";
import { labelOf } from "../compile.js";
import type { MappingProblem } from "../problems.js";
import { allowedKeysAt, type Path } from "../schema-walk.js";
import { closest } from "../suggest.js";
import type { YamlSource } from "../yaml-source.js";
import { MappingTestFileSchema } from "./schema.js";
import { describe, valueAt } from "../issues.js";

type Issue = z.core.$ZodIssue;

export function testFileProblems(source: YamlSource, data: unknown, issues: readonly Issue[]): MappingProblem[] {
  return issues.flatMap((issue) => explain(source, data, issue, []));
}

function explain(source: YamlSource, data: unknown, issue: Issue, base: Path): MappingProblem[] {
  const path = [...base, ...(issue.path as (string | number)[])];
  const label = labelOf(path, data);
  const say = (message: string, on: "key" | "value" = "value") => source.problem(path, label ? `${label}: ${message}` : message, on);
  const value = valueAt(data, path);

  if (issue.code === "unrecognized_keys") {
    const allowed = allowedKeysAt(MappingTestFileSchema, data, path) ?? [];
    return issue.keys.map((key) => {
      const guess = closest(key, allowed);
      const message = `unknown key '${key}'${guess ? ` (did you mean '${guess}'?)` : ""}; allowed here: ${allowed.join(", ")}`;
      return source.problem([...path, key], label ? `${label}: ${message}` : message, "key");
    });
  }
  if (value === undefined && path.length > 0 && (issue.code === "invalid_type" || issue.code === "invalid_union")) {
    const where = labelOf(path.slice(0, -1), data);
    return [source.problem(path, `${where ? `${where}: ` : ""}missing required key '${String(path.at(-1))}'`)];
  }
  if (issue.code === "invalid_union") {
    // A value shaped like one branch (e.g. a list) is explained by that branch's own issues.
    const shallow = new Set(["invalid_type", "invalid_union"]);
    const branch = issue.errors.find((errs) => errs.some((e) => e.path.length > 0 || !shallow.has(e.code)));
    if (branch) return branch.flatMap((inner) => explain(source, data, inner, path));
    return [say(`${issue.message}, got ${describe(value)}`)];
  }
  if (issue.code === "invalid_type" || issue.code === "invalid_value") {
    const message = issue.message.startsWith("Invalid input") ? `expected ${issue.code === "invalid_type" ? issue.expected : "one of the allowed values"}` : issue.message;
    return [say(`${message}, got ${describe(value)}`)];
  }
  return [say(issue.message)];
}


