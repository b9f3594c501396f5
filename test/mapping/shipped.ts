import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import { compileMappingTexts, formatProblem, type MappingSet } from "../../src/mapping/index.js";

export const MAPPINGS = fileURLToPath(new URL("../../mappings", import.meta.url));

/** A shipped mapping file as text, with YAML edits applied (path → new value), comments kept. */
export function shippedText(name: string, edits: [path: (string | number)[], value: unknown][] = []): string {
  const doc = parseDocument(readFileSync(`${MAPPINGS}/${name}.yaml`, "utf8"));
  for (const [path, value] of edits) {
    if (!doc.hasIn(path.slice(0, -1)) && path.length > 1) throw new Error(`no ${path.slice(0, -1).join(".")} in ${name}.yaml`);
    doc.setIn(path, value);
  }
  return doc.toString();
}

/** The shipped mappings compiled as one set (each switched on), edited; fails with the problems if any. */
export function shippedSet(specs: { name: string; edits?: [(string | number)[], unknown][] }[]): MappingSet {
  const texts = specs.map(({ name, edits = [] }) => ({ file: `${name}.yaml`, text: shippedText(name, [[["enabled"], true], ...edits]) }));
  const { set, problems } = compileMappingTexts(texts);
  if (!set) throw new Error(problems.map(formatProblem).join("\n"));
  return set;
}

/** A shipped mapping with one param changed. */
export const withParam = (name: string, param: string, value: unknown) => shippedSet([{ name, edits: [[["params", param, "value"], value]] }]);
