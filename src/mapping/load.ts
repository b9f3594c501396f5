/**
 * @module Reads mapping files (one file or a directory), reports every problem in every file
 * with its position, and compiles a valid set. Syntax → schema → CEL → uniqueness, all collected.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { celEnvironments, type ParamDecl } from "./cel-env.js";
import { setChecks, mappingChecks, type LoadedFile } from "./checks.js";
import { assemble, compileExpression, labelOf, type CompiledExpr, type CompiledMapping, type MappingSet } from "./compile.js";
import { schemaProblems } from "./issues.js";
import { lintMapping } from "./lint.js";
import { classified, isError, MappingLoadError, sortProblems, type MappingProblem } from "./problems.js";
import { ESTIMATE_PARAM, MappingSchema } from "./schema.js";
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

/** Like loadMappingSet, with the warnings of a set that loads (for commands to show before they run). */
export async function loadMappingSetWithWarnings(path: string): Promise<{ set: MappingSet; warnings: MappingProblem[] }> {
  const { set, problems } = await loadPath(path);
  if (!set) throw new MappingLoadError(problems);
  return { set, warnings: problems.filter((p) => !isError(p)) };
}

/** Every problem in every mapping file at `path`: errors (the set does not load) and warnings. */
export async function validateMappingPath(path: string): Promise<MappingProblem[]> {
  return (await loadPath(path)).problems;
}

/** Problems plus the text of every file read, so problems can be shown in their source line. */
export async function checkMappingPath(path: string): Promise<CompileResult & { texts: MappingText[] }> {
  return loadPath(path);
}

async function loadPath(path: string): Promise<CompileResult & { texts: MappingText[] }> {
  const read = await readMappingTexts(path);
  const texts = read.filter((r): r is MappingText => "text" in r);
  const unreadable = read.filter((r): r is MappingProblem => !("text" in r));
  return { ...compileMappingTexts(texts, unreadable), texts };
}

/**
 * Pure core of loading, for callers that already hold the text (tests, jobs carrying a mapping).
 * The set is present when there is no error; `problems` also lists warnings.
 */
export function compileMappingTexts(texts: readonly MappingText[], earlier: readonly MappingProblem[] = []): CompileResult {
  const problems: MappingProblem[] = [...earlier];
  const loaded: LoadedFile[] = [];
  const mappings: { mapping: CompiledMapping; enabled: boolean }[] = [];
  for (const t of texts) {
    const one = compileOne(t);
    problems.push(...one.problems);
    if (one.loaded) loaded.push(one.loaded);
    if (one.mapping) mappings.push({ mapping: one.mapping, enabled: one.enabled });
  }
  problems.push(...setChecks(loaded));
  const enabled = mappings.filter((m) => m.enabled).map((m) => m.mapping);
  const disabled = mappings.filter((m) => !m.enabled).map((m) => m.mapping);
  if (!problems.some(isError) && mappings.length > 0 && enabled.length === 0) {
    const first = loaded.find((l) => l.def)!;
    problems.push(classified(first.source.problem(["enabled"], "every mapping of the set has enabled: false, so nothing would be billed"), "invalid-value"));
  }
  if (problems.some(isError) || enabled.length === 0) {
    return { set: undefined, problems: sortProblems(problems) };
  }
  const all = mappings.map((m) => m.mapping);
  return { set: { version: setVersion(all), mappings: enabled, ...(disabled.length ? { disabled } : {}) }, problems: sortProblems(problems) };
}

function compileOne({ file, text }: MappingText): { problems: MappingProblem[]; loaded?: LoadedFile; mapping?: CompiledMapping; enabled: boolean } {
  const source = YamlSource.parse(file, text);
  const syntax = source.syntaxProblems().map((p) => classified(p, "yaml-syntax"));
  // After a syntax error the tree is a guess; schema errors on it would only add noise.
  if (syntax.length > 0) return { problems: syntax, enabled: false };
  if (source.isEmpty()) {
    return {
      problems: [classified({ file, line: 1, col: 1, message: "the file is empty; expected a mapping (name, customer, rules, metrics)" }, "empty-file")],
      enabled: false,
    };
  }

  const data = source.toData();
  const parsed = MappingSchema.safeParse(data);
  const problems = parsed.success ? [] : schemaProblems(source, data, parsed.error.issues);

  // Expressions are compiled even when the schema failed elsewhere, so one run shows every error.
  const written = isMap(data) ? data : {};
  const env = celEnvironments(paramDecls(source, written["params"]), { split: isMap(written["split"]) });
  const compiled = new Map<string, CompiledExpr>();
  for (const slot of celSlots(MappingSchema, data)) {
    const at = labelOf(slot.path, data);
    const outcome = compileExpression(slot.kind, slot.source, at, env.kinds, env.params);
    if (outcome.ok) compiled.set(pathKey(slot.path), outcome.expr);
    else problems.push(classified(source.expressionProblem(slot.path, slot.source, outcome.offset, `${at}: ${outcome.message}`), outcome.kind, at));
  }
  const name = written["name"];
  const loaded = { source, name: typeof name === "string" ? name : undefined, def: parsed.data };
  if (!parsed.success) return { problems, loaded, enabled: false };

  problems.push(...mappingChecks(source, parsed.data));
  if (problems.some(isError)) return { problems, loaded, enabled: false };

  const exprAt = (path: Path): CompiledExpr => {
    const expr = compiled.get(pathKey(path));
    if (!expr) throw new Error(`internal: no compiled expression at ${pathKey(path)} in ${file}`);
    return expr;
  };
  const mapping = assemble(parsed.data, data, file, shortHash(text), exprAt, env.params);
  problems.push(...lintMapping(source, parsed.data, mapping, Array.isArray(written["customer"])));
  return { problems, loaded, mapping, enabled: parsed.data.enabled };
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The params as CEL declares them, read leniently from the data as written (the schema may have
 * failed elsewhere). A number is a double when written with a decimal point or exponent
 * (`1.0`, `2.5e3`), an int otherwise, so `markup: 1.0` multiplies doubles as its author meant.
 */
function paramDecls(source: YamlSource, params: unknown): ParamDecl[] {
  if (!isMap(params)) return [];
  const out: ParamDecl[] = [];
  for (const [name, entry] of Object.entries(params)) {
    if (!/^[a-z_][a-z0-9_]{0,63}$/.test(name) || !isMap(entry)) continue;
    const value = entry["value"];
    // tracebill reads this one as true/false; any other value is reported once, by the checks.
    if (name === ESTIMATE_PARAM) out.push({ name, type: "bool", value: value === true });
    else if (typeof value === "string") out.push({ name, type: "string", value });
    else if (typeof value === "boolean") out.push({ name, type: "bool", value });
    else if (typeof value === "number" && Number.isFinite(value)) {
      const written = source.scalarSource(["params", name, "value"]) ?? String(value);
      const double = /[.eE]/.test(written) || !Number.isSafeInteger(value);
      out.push({ name, type: double ? "double" : "int", value });
    }
  }
  return out;
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
  // attribution.yaml configures the attribution model, not a mapping (src/attribution).
  return /\.ya?ml$/i.test(name) && !/\.test\.ya?ml$/i.test(name) && !name.startsWith(".") && !/^attribution\.ya?ml$/i.test(name);
}

/** Texts of the mapping files at `path`; unreadable paths come back as problems so they are listed with the rest. */
async function readMappingTexts(path: string): Promise<(MappingText | MappingProblem)[]> {
  const atStart = (file: string, message: string): MappingProblem => classified({ file, line: 1, col: 1, message }, "unreadable");
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
