/**
 * @module Finds and reads mapping test files, each against the mapping set of its directory, and
 * turns every case into a complete TraceRecord plus its expectation. Every problem in every file
 * is collected with its file:line:col, like the mapping loader does for mappings.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ZERO_USAGE, type Platform, type TraceRecord } from "../../model/index.js";
import type { MappingSet } from "../compile.js";
import { isMappingFileName, loadMappingSet } from "../load.js";
import { MappingLoadError, sortProblems, type MappingProblem } from "../problems.js";
import { closest } from "../suggest.js";
import { YamlSource } from "../yaml-source.js";
import { testFileProblems } from "./problems.js";
import { MappingTestFileSchema, type Expectation, type MappingTestFileDef, type RecordPatch } from "./schema.js";

/** Raw platform record → TraceRecord: the real source normalizers, handed in (mapping/ does not import sources/). */
export type RawNormalizers = Record<Platform, (raw: unknown) => TraceRecord>;

export interface MappingTestCase {
  name: string;
  file: string;
  /** Position of the case in its file (1-based), for failure reports. */
  line: number;
  col: number;
  record: TraceRecord;
  expect: Expectation;
}

export interface MappingTestFile {
  file: string;
  /** The mapping set the cases run against: the directory's set, narrowed to `mapping:` when given. */
  set: MappingSet | undefined;
  /** Problems in this file, and in the mapping set it tests (cases do not run when there are any). */
  problems: MappingProblem[];
  cases: MappingTestCase[];
}

export interface MappingTestSuite {
  files: MappingTestFile[];
  /** Problems not tied to one test file (nothing to test at the path, unreadable path). */
  problems: MappingProblem[];
}

export interface LoadTestsOptions {
  /** Needed only by cases written with `raw:`. */
  normalizers?: RawNormalizers;
}

const TEST_FILE = /\.test\.ya?ml$/i;

export function isMappingTestFileName(name: string): boolean {
  return TEST_FILE.test(name) && !name.startsWith(".");
}

/**
 * `path` is a test file, a mapping file (its `<name>.test.yaml` beside it) or a directory (every
 * `*.test.yaml` in it). Each test file runs against the mapping set of its own directory.
 */
export async function loadMappingTests(path: string, opts: LoadTestsOptions = {}): Promise<MappingTestSuite> {
  const found = await findTestFiles(path);
  if ("problem" in found) return { files: [], problems: [found.problem] };
  // Every file found is in one directory, so one set serves them all.
  const { set, problems: setProblems } = await loadSet(dirname(found.files[0]!));
  const files = await Promise.all(
    found.files.map(async (file): Promise<MappingTestFile> => {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (e) {
        return { file, set: undefined, cases: [], problems: [atStart(file, `cannot read: ${(e as Error).message}`)] };
      }
      const parsed = parseMappingTests(file, text, set, opts);
      if (!setProblems.length) return parsed;
      return { file, set: undefined, cases: [], problems: sortProblems([...setProblems, ...parsed.problems]) };
    }),
  );
  return { files, problems: [] };
}

async function loadSet(dir: string): Promise<{ set?: MappingSet; problems: MappingProblem[] }> {
  try {
    return { set: await loadMappingSet(dir), problems: [] };
  } catch (e) {
    if (e instanceof MappingLoadError) return { problems: [...e.problems] };
    throw e;
  }
}

/** The test files at `path`, all in one directory. */
async function findTestFiles(path: string): Promise<{ files: string[] } | { problem: MappingProblem }> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    return { problem: atStart(path, `cannot read: ${(e as Error).message}`) };
  }
  if (isDir) {
    const files = (await readdir(path)).filter(isMappingTestFileName).sort().map((name) => join(path, name));
    return files.length ? { files } : { problem: atStart(path, "no mapping tests (*.test.yaml) in this directory") };
  }
  if (isMappingTestFileName(basename(path))) return { files: [path] };
  if (isMappingFileName(basename(path))) {
    const stem = path.replace(/\.ya?ml$/i, "");
    for (const candidate of [`${stem}.test.yaml`, `${stem}.test.yml`]) {
      if (await stat(candidate).then((s) => s.isFile(), () => false)) return { files: [candidate] };
    }
    return { problem: atStart(path, `no tests for this mapping: expected ${basename(stem)}.test.yaml beside it`) };
  }
  return { problem: atStart(path, "not a mapping test file (*.test.yaml), mapping file or directory") };
}

/**
 * Pure core: one test file's text against a loaded set (undefined: the set has problems, so only
 * the file itself is checked).
 */
export function parseMappingTests(file: string, text: string, set: MappingSet | undefined, opts: LoadTestsOptions = {}): MappingTestFile {
  const fail = (problems: MappingProblem[]): MappingTestFile => ({ file, set: undefined, problems: sortProblems(problems), cases: [] });
  const source = YamlSource.parse(file, text);
  const syntax = source.syntaxProblems();
  if (syntax.length) return fail(syntax);
  if (source.isEmpty()) return fail([atStart(file, "the file is empty; expected `cases:` (and optionally `mapping:`, `defaults:`)")]);

  const data = source.toData();
  const parsed = MappingTestFileSchema.safeParse(data);
  if (!parsed.success) return fail(testFileProblems(source, data, parsed.error.issues));
  const def = parsed.data;

  const problems: MappingProblem[] = [];
  const seen = new Map<string, string>();
  def.cases.forEach((c, i) => {
    const first = seen.get(c.name);
    if (first) problems.push(source.problem(["cases", i, "name"], `duplicate case name '${c.name}' (first at ${first}); failures are reported by name`));
    else seen.set(c.name, source.where(["cases", i, "name"]));
  });

  const narrowed = set ? narrow(set, def, data, source, problems) : undefined;
  const cases: MappingTestCase[] = [];
  def.cases.forEach((c, i) => {
    const record = recordOf(def, i, opts.normalizers, (platform, message) =>
      problems.push(source.problem(["cases", i, "raw", platform], `cases[${c.name}].raw.${platform}: ${message}`)),
    );
    if (!record) return;
    const at = source.problem(["cases", i], "");
    cases.push({ name: c.name, file, line: at.line, col: at.col, record, expect: c.expect });
  });
  if (problems.length) return fail(problems);
  return { file, set: narrowed, problems: [], cases };
}

/**
 * The set's mappings named by `mapping:`, each name checked against the set. A mapping switched
 * off (`enabled: false`) is tested when named, so switching it on is a safe, tested step.
 */
function narrow(set: MappingSet, def: MappingTestFileDef, data: unknown, source: YamlSource, problems: MappingProblem[]): MappingSet {
  if (!def.mapping) return set;
  const all = [...set.mappings, ...(set.disabled ?? [])];
  const names = all.map((m) => m.name);
  const listed = Array.isArray((data as { mapping?: unknown }).mapping);
  def.mapping.forEach((name, i) => {
    if (names.includes(name)) return;
    const guess = closest(name, names);
    problems.push(
      source.problem(listed ? ["mapping", i] : ["mapping"], `no mapping named '${name}' here${guess ? ` (did you mean '${guess}'?)` : ""}; mappings in this directory: ${names.join(", ")}`),
    );
  });
  return { version: set.version, mappings: all.filter((m) => def.mapping!.includes(m.name)) };
}

/** A successful model call with no usage and no attributes: each case states what it is about. */
const BASE: Omit<TraceRecord, "recordId" | "traceId"> = {
  platform: "langsmith",
  parentId: null,
  isModelCall: true,
  name: "model-call",
  status: "success",
  error: null,
  startTime: "2026-01-01T00:00:00.000Z",
  endTime: "2026-01-01T00:00:01.000Z",
  modelRequested: null,
  modelExecuted: null,
  provider: null,
  usage: null,
  usageEstimated: false,
  cacheHit: false,
  cacheHitSignal: null,
  replaySignal: null,
  costTotal: null,
  responseId: null,
  attributes: {},
  tags: [],
  feature: null,
  userId: null,
  sessionId: null,
  order: null,
};

function recordOf(
  def: MappingTestFileDef,
  index: number,
  normalizers: RawNormalizers | undefined,
  problem: (platform: Platform, message: string) => void,
): TraceRecord | undefined {
  const c = def.cases[index]!;
  if (c.raw) {
    const platform: Platform = c.raw.langsmith !== undefined ? "langsmith" : "langfuse";
    if (!normalizers) {
      problem(platform, "raw records cannot be read here (no source normalizers were given to the test loader)");
      return undefined;
    }
    let normalized: TraceRecord;
    try {
      normalized = normalizers[platform](c.raw[platform]);
    } catch (e) {
      problem(platform, `the ${platform === "langsmith" ? "LangSmith run" : "Langfuse observation"} cannot be read: ${(e as Error).message}`);
      return undefined;
    }
    return patch(normalized, c.record);
  }
  const id = `case-${index + 1}`;
  const record = patch(patch({ ...BASE, recordId: id, traceId: id }, def.defaults), c.record);
  const statesTrace = def.defaults?.traceId !== undefined || c.record?.traceId !== undefined;
  return statesTrace ? record : { ...record, traceId: record.recordId };
}

/** Fields written replace; `attributes` and `usage` merge key by key (a null attribute removes it). */
function patch(base: TraceRecord, p: RecordPatch | undefined): TraceRecord {
  if (!p) return base;
  const out: TraceRecord = { ...base };
  for (const [key, value] of Object.entries(p)) {
    if (value === undefined || key === "usage" || key === "attributes") continue;
    (out as unknown as Record<string, unknown>)[key] = value;
  }
  if (p.usage !== undefined) out.usage = p.usage === null ? null : { ...(base.usage ?? ZERO_USAGE), ...definedOnly(p.usage) };
  if (p.attributes) {
    const merged = { ...base.attributes, ...p.attributes };
    out.attributes = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== null));
  }
  return out;
}

function definedOnly<T extends object>(o: T): { [K in keyof T]-?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]-?: Exclude<T[K], undefined> };
}

function atStart(file: string, message: string): MappingProblem {
  return { file, line: 1, col: 1, message };
}
