import type { Platform } from "../model/index.js";
import type { TraceRecord } from "../model/index.js";
import { ContextIndex, type ContextStore } from "./context.js";
import { detect } from "./formats/detect.js";
import { langfuseObservations, langfuseTraces } from "./langfuse/format.js";
import { langfuseScores } from "./langfuse/scores.js";
import { langSmithRuns } from "./langsmith/format.js";
import { readRaw, type RawItem } from "./read-raw.js";
import type { ContextFacts, DetectedInput, DetectOverride, InputFormat, InputKind, SourceItem, TraceSource } from "./source.js";

export { expandInputs } from "./expand.js";

/** Every input kind; detection goes through the export dialects (formats/dialects.ts). */
export const formats = {
  "langsmith-runs": langSmithRuns,
  "langfuse-observations": langfuseObservations,
  "langfuse-traces": langfuseTraces,
  "langfuse-scores": langfuseScores,
} satisfies Record<InputKind, InputFormat>;

/**
 * Platform, kind, container (JSON array/JSONL/page/CSV/Parquet), gzip and export dialect of one
 * input, from its content (streamed: only the first records are read). `override` forces what
 * `--source`/`--format` name. An unreadable or unrecognisable file is a UserError naming it.
 */
export async function detectInput(path: string, override?: DetectOverride): Promise<DetectedInput> {
  return detect(path, override);
}

/**
 * Detects every input (a UserError before anything is yielded when one is unrecognisable),
 * then streams normalized records joined to their trace context.
 */
export async function* readInputs(paths: string[], opts: ReadOptions = {}): AsyncGenerator<SourceItem> {
  const inputs: DetectedInput[] = [];
  for (const path of paths) inputs.push(await detectInput(path, opts.override));
  yield* readDetected(inputs, opts);
}

/** Where a resumed read starts: records before it were already handed on (checkpointed). */
export interface ResumePoint {
  /** Index into the inputs. */
  input: number;
  /** Raw items of that input already handled (the next one read is this index). */
  item: number;
}

export interface ReadOptions {
  /** --source / --input-format: what detection must not guess. */
  override?: DetectOverride;
  /** Where the first pass keeps trace contexts; default: in memory for this read only. */
  store?: ContextStore;
  /** Skip the first pass (its facts are already in a persistent store) and resume the second here. */
  resume?: ResumePoint;
}

/** Records are normalized and joined a page at a time, so a Redis-backed store costs one round trip a page. */
const PAGE = 256;

/**
 * Two passes, never a whole file in memory: the first puts every input's context facts in the
 * store (so order does not matter, and with a persistent store neither do files or jobs), the
 * second normalizes, joins and yields. Bad records become quarantine entries, once, and reading
 * goes on.
 */
export async function* readDetected(inputs: DetectedInput[], opts: ReadOptions = {}): AsyncGenerator<SourceItem> {
  const store = opts.store ?? new ContextIndex();
  if (!opts.resume) {
    for (const [inputIndex, input] of inputs.entries()) {
      // Scores are recognised so a blob export directory can be given whole; they bill nothing.
      if (input.kind === "langfuse-scores") continue;
      const format: InputFormat = formats[input.kind];
      // Context-only inputs are not read again, so their bad records are reported now.
      const reportHere = !format.normalize;
      let facts: ContextFacts[] = [];
      let itemIndex = -1;
      for await (const item of rawOf(input)) {
        itemIndex++;
        if (!item.ok) {
          if (reportHere) yield quarantine(input, item, inputIndex, itemIndex);
          continue;
        }
        try {
          facts.push(format.context(item.value));
        } catch (e) {
          if (reportHere) yield quarantine(input, { ok: false, position: item.position, reason: reasonOf(e) }, inputIndex, itemIndex);
        }
        if (facts.length >= PAGE) {
          await store.add(format.platform, facts);
          facts = [];
        }
      }
      await store.add(format.platform, facts);
    }
  }
  for (const [inputIndex, input] of inputs.entries()) {
    const format: InputFormat = formats[input.kind];
    const normalize = format.normalize;
    if (opts.resume && inputIndex < opts.resume.input) continue;
    const told = new Set<string>();
    const tell = function* (notes: readonly string[] | undefined, itemIndex: number): Generator<SourceItem> {
      for (const note of notes ?? []) {
        if (told.has(note)) continue;
        told.add(note);
        yield { kind: "note", input: input.path, note, inputIndex, itemIndex };
      }
    };
    yield* tell(input.notes, -1);
    if (!normalize) continue;
    const skipUntil = opts.resume && inputIndex === opts.resume.input ? opts.resume.item : 0;
    let page: { record: TraceRecord; position: string; itemIndex: number }[] = [];
    const flush = async function* (): AsyncGenerator<SourceItem> {
      const joined = await store.apply(page.map((p) => p.record));
      for (const [i, j] of joined.entries()) {
        const p = page[i]!;
        const record = format.refine ? format.refine(j.record) : j.record;
        yield { kind: "record", record, contextFound: j.contextFound, input: input.path, position: p.position, inputIndex, itemIndex: p.itemIndex };
      }
      page = [];
    };
    let itemIndex = -1;
    for await (const item of rawOf(input)) {
      itemIndex++;
      if (itemIndex < skipUntil) continue;
      if (!item.ok) {
        yield* flush();
        yield quarantine(input, item, inputIndex, itemIndex);
        continue;
      }
      if (item.notes) yield* tell(item.notes, itemIndex - 1);
      try {
        page.push({ record: normalize(item.value), position: item.position, itemIndex });
      } catch (e) {
        // Flush first so items keep their order: checkpoints rely on it.
        yield* flush();
        yield quarantine(input, { ok: false, position: item.position, reason: reasonOf(e) }, inputIndex, itemIndex);
        continue;
      }
      if (page.length >= PAGE) yield* flush();
    }
    yield* flush();
  }
}

function rawOf(input: DetectedInput): AsyncGenerator<RawItem> {
  return readRaw(input);
}

/** The TraceSource contract per platform, over already-detected inputs. */
export const sources = {
  langsmith: sourceFor("langsmith"),
  langfuse: sourceFor("langfuse"),
} satisfies Record<Platform, TraceSource>;

function sourceFor(platform: Platform): TraceSource {
  return { platform, read: (inputs) => readDetected(inputs.filter((i) => i.platform === platform)) };
}

function quarantine(input: DetectedInput, item: Extract<RawItem, { ok: false }>, inputIndex: number, itemIndex: number): SourceItem {
  return { kind: "quarantine", entry: { input: input.path, position: item.position, reason: item.reason }, inputIndex, itemIndex };
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
