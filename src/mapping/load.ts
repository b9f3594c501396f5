/**
 * @module Reads mapping files (one file or a directory), reports every problem in every file
 * with its position, and compiles a valid set. Syntax → schema → CEL → uniqueness, all collected.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { setChecks, mappingChecks, type LoadedFile } from "./checks.js";
import { assemble, compileExpression, labelOf, type CompiledExpr, type CompiledMapping, type MappingSet } from "./compile.js";
import { schemaProblems } from "./issues.js";
import { MappingLoadError, sortProblems, type MappingProblem } from "./problems.js";
import { MappingSchema } from "./schema.js";
import { celSlots, type Path } from "./schema-walk.js";
import { YamlSource } from "./yaml-source.js";

export interface MappingText {
  /** Shown in problems; usually the path the text was read from. */
  file: string;
  text: string;
}

export interface CompileResult {
  /** Present only when there are no problems. */
  set: MappingSet | undefined;
  problems: MappingProblem[];
}

/** Loads a mapping file or every mapping file of a directory; throws MappingLoadError listing all problems. */
export async function loadMappingSet(path: string): Promise<MappingSet> {
  const { set, problems } = await loadPath(path);
  if (!set) throw new MappingLoadError(problems);
  return set;
}

/** Every problem in every mapping file at `path` (empty when the set loads). */
export async function validateMappingPath(path: string): Promise<MappingProblem[]> {
  return (await loadPath(path)).problems;
}

async function loadPath(path: string): Promise<CompileResult> {
  const read = await readMappingTexts(path);
  const texts = read.filter((r): r is MappingText => "text" in r);
  const unreadable = read.filter((r): r is MappingProblem => !("text" in r));
  return compileMappingTexts(texts, unreadable);
}

/** Pure core of loading, for callers that already hold the text (tests, jobs carrying a mapping). */
export function compileMappingTexts(texts: readonly MappingText[], earlier: readonly MappingProblem[] = []): CompileResult {
  const problems: MappingProblem[] = [...earlier];
  const loaded: LoadedFile[] = [];
  const mappings: CompiledMapping[] = [];
  for (const t of texts) {
    const one = compileOne(t);
    problems.push(...one.problems);
    if (one.loaded) loaded.push(one.loaded);
    if (one.mapping) mappings.push(one.mapping);
  }
  problems.push(...setChecks(loaded));
  if (problems.length > 0 || mappings.length === 0) {
    return { set: undefined, problems: sortProblems(problems) };
  }
  return { set: { version: setVersion(mappings), mappings }, problems: [] };
}

function compileOne({ file, text }: MappingText): { problems: MappingProblem[]; loaded?: LoadedFile; mapping?: CompiledMapping } {
  const source = YamlSource.parse(file, text);
  const syntax = source.syntaxProblems();
  // After a syntax error the tree is a guess; schema errors on it would only add noise.
  if (syntax.length > 0) return { problems: syntax };
  if (source.isEmpty()) {
    return { problems: [{ file, line: 1, col: 1, message: "the file is empty; expected a mapping (name, customer, rules, metrics)" }] };
  }

  const data = source.toData();
  const parsed = MappingSchema.safeParse(data);
  const problems = parsed.success ? [] : schemaProblems(source, data, parsed.error.issues);

  // Expressions are compiled even when the schema failed elsewhere, so one run shows every error.
  const compiled = new Map<string, CompiledExpr>();
  for (const slot of celSlots(MappingSchema, data)) {
    const at = labelOf(slot.path, data);
    const outcome = compileExpression(slot.kind, slot.source, at);
    if (outcome.ok) compiled.set(pathKey(slot.path), outcome.expr);
    else problems.push(source.expressionProblem(slot.path, slot.source, outcome.offset, `${at}: ${outcome.message}`));
  }
  const name = (data as { name?: unknown } | null)?.name;
  const loaded = { source, name: typeof name === "string" ? name : undefined, def: parsed.data };
  if (!parsed.success) return { problems, loaded };

  problems.push(...mappingChecks(source, parsed.data));
  if (problems.length > 0) return { problems, loaded };

  const exprAt = (path: Path): CompiledExpr => {
    const expr = compiled.get(pathKey(path));
    if (!expr) throw new Error(`internal: no compiled expression at ${pathKey(path)} in ${file}`);
    return expr;
  };
  return { problems, loaded, mapping: assemble(parsed.data, data, file, shortHash(text), exprAt) };
}

const pathKey = (path: Path) => path.join("\u0000");

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 12);
}

function setVersion(mappings: readonly CompiledMapping[]): string {
  const lines = mappings.map((m) => `${m.name}@${m.version}`).sort();
  return shortHash(lines.join("\n"));
}

/**
 * A directory holds mapping files beside their tests (`*.test.yaml`), the generated
 * `mapping.schema.json` and docs; only the mappings themselves are loaded.
 */
export function isMappingFileName(name: string): boolean {
  return /\.ya?ml$/i.test(name) && !/\.test\.ya?ml$/i.test(name) && !name.startsWith(".");
}

/** Texts of the mapping files at `path`; unreadable paths come back as problems so they are listed with the rest. */
async function readMappingTexts(path: string): Promise<(MappingText | MappingProblem)[]> {
  const atStart = (file: string, message: string): MappingProblem => ({ file, line: 1, col: 1, message });
  let files: string[];
  try {
    if ((await stat(path)).isDirectory()) {
      files = (await readdir(path)).filter(isMappingFileName).sort().map((name) => join(path, name));
      if (files.length === 0) return [atStart(path, "no mapping files (*.yaml, *.yml) in this directory")];
    } else {
      files = [path];
    }
  } catch (e) {
    return [atStart(path, `cannot read: ${(e as Error).message}`)];
  }
  return Promise.all(
    files.map(async (file) => {
      try {
        return { file, text: await readFile(file, "utf8") };
      } catch (e) {
        return atStart(file, `cannot read: ${(e as Error).message}`);
      }
    }),
  );
}
