import type { Platform } from "../model/index.js";
import type { TraceRecord } from "../model/index.js";
import { ContextIndex, type ContextStore, type Joined } from "./context.js";
import { detect } from "./formats/detect.js";
import { langfuseObservations, langfuseTraces } from "./langfuse/format.js";
import { langfuseScores } from "./langfuse/scores.js";
import { langSmithRuns } from "./langsmith/format.js";
import { readRawBatches, type RawItem } from "./read-raw.js";
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
  yield* readDetected(await detectInputs(paths, opts.override), opts);
}

/** Every input detected, in order; a UserError naming the first that is unrecognisable. */
export async function detectInputs(paths: string[], override?: DetectOverride): Promise<DetectedInput[]> {
  const inputs: DetectedInput[] = [];
  for (const path of paths) inputs.push(await detectInput(path, override));
  return inputs;
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
      // One page of facts is written while the next is read (a persistent store's round trip
      // overlaps the parsing); all of them are stored before the second pass starts.
      let adding: Promise<void> | undefined;
      const add = async (page: ContextFacts[]) => {
        if (adding) await adding;
        adding = store.add(format.platform, page);
        // Awaited later; this only keeps an early failure from being reported as unhandled.
        adding.catch(() => undefined);
      };
      for await (const batch of rawOf(input)) for (const item of batch) {
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
          await add(facts);
          facts = [];
        }
      }
      await add(facts);
      await adding;
    }
    store.factsComplete?.();
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
    type Page = { record: TraceRecord; position: string; itemIndex: number }[];
    let page: Page = [];
    // A full page is joined while the next one is read; its records are handed on, in order,
    // before anything that came after them (the next page, a quarantine entry, a new note).
    // Records are yielded from this generator itself, never through a nested one: every
    // generator a record passes through costs it an extra await.
    let inflight: { page: Page; joined: Promise<Joined[]> } | undefined;
    /** The page in flight, joined, as the items to hand on. */
    const drained = async (): Promise<SourceItem[]> => {
      if (!inflight) return [];
      const { page: done, joined } = inflight;
      inflight = undefined;
      const records = await joined;
      const items: SourceItem[] = [];
      for (let i = 0; i < records.length; i++) {
        const j = records[i]!;
        const p = done[i]!;
        const record = format.refine ? format.refine(j.record) : j.record;
        items.push({ kind: "record", record, contextFound: j.contextFound, input: input.path, position: p.position, inputIndex, itemIndex: p.itemIndex });
      }
      return items;
    };
    const start = () => {
      const joined = store.apply(page.map((p) => p.record));
      joined.catch(() => undefined);
      inflight = { page, joined };
      page = [];
    };
    /** Everything read so far, handed on. */
    const flush = async function* (): AsyncGenerator<SourceItem> {
      for (const item of await drained()) yield item;
      if (page.length === 0) return;
      start();
      for (const item of await drained()) yield item;
    };
    let itemIndex = -1;
    for await (const batch of rawOf(input)) for (const item of batch) {
      itemIndex++;
      if (itemIndex < skipUntil) continue;
      if (!item.ok) {
        yield* flush();
        yield quarantine(input, item, inputIndex, itemIndex);
        continue;
      }
      if (item.notes) {
        // Records of the page in flight were handed on before this note in a plain read: keep that order.
        if (item.notes.some((n) => !told.has(n))) for (const d of await drained()) yield d;
        yield* tell(item.notes, itemIndex - 1);
      }
      try {
        page.push({ record: normalize(item.value), position: item.position, itemIndex });
      } catch (e) {
        // Flush first so items keep their order: checkpoints rely on it.
        yield* flush();
        yield quarantine(input, { ok: false, position: item.position, reason: reasonOf(e) }, inputIndex, itemIndex);
        continue;
      }
      if (page.length >= PAGE) {
        // This page is joined in the background while the previous one is handed on.
        const previous = inflight;
        start();
        if (previous) {
          const current = inflight;
          inflight = previous;
          for (const d of await drained()) yield d;
          inflight = current;
        }
      }
    }
    yield* flush();
  }
}

function rawOf(input: DetectedInput): AsyncGenerator<RawItem[]> {
  return readRawBatches(input);
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
