import { UserError, type Platform } from "../model/index.js";
import type { TraceRecord } from "../model/index.js";
import { ContextIndex, type ContextStore } from "./context.js";
import { langfuseObservations, langfuseTraces } from "./langfuse/format.js";
import { langSmithRuns } from "./langsmith/format.js";
import { readRaw, sniffEncoding, type RawItem } from "./read-json.js";
import type { ContextFacts, DetectedInput, InputFormat, InputKind, SourceItem, TraceSource } from "./source.js";

/** Every input kind, tried in this order when detecting (LangSmith runs also have a trace_id). */
export const formats = {
  "langsmith-runs": langSmithRuns,
  "langfuse-observations": langfuseObservations,
  "langfuse-traces": langfuseTraces,
} satisfies Record<InputKind, InputFormat>;

const EXPECTED =
  "expected a JSON array or JSONL file of LangSmith runs (run_type, dotted_order, trace_id), " +
  "Langfuse observations (type, traceId, startTime) or Langfuse traces (id, timestamp, userId/metadata/tags)";

/** A malformed first line should not hide a good export: look a few records further. */
const DETECTION_LOOKAHEAD = 10;

/** Platform and kind of one input, from its first records (streamed: the rest is not read). */
export async function detectInput(path: string): Promise<DetectedInput> {
  const encoding = await sniffEncoding(path).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(`${path}: cannot read the file (${e.code ?? e.message})`);
  });
  if (typeof encoding !== "string") {
    throw new UserError(
      encoding.found === null
        ? `${path}: the file is empty; ${EXPECTED}`
        : `${path}: not JSON or JSONL (starts with ${JSON.stringify(encoding.found)}); ${EXPECTED}`,
    );
  }
  let seen = 0;
  let firstKeys: string[] | null = null;
  for await (const item of readRaw(path, encoding)) {
    if (item.ok) {
      const format = Object.values(formats).find((f) => f.recognise(item.value));
      if (format) return { path, platform: format.platform, kind: format.kind, encoding };
      firstKeys ??= Object.keys(item.value).slice(0, 12);
    }
    if (++seen >= DETECTION_LOOKAHEAD) break;
  }
  if (seen === 0) throw new UserError(`${path}: no records in the file; ${EXPECTED}`);
  const what = firstKeys ? `the first record has keys ${firstKeys.join(", ")}` : `no readable JSON object in the first ${seen} records`;
  throw new UserError(`${path}: not a recognised trace export (${what}); ${EXPECTED}`);
}

/**
 * Detects every input (a UserError before anything is yielded when one is unrecognisable),
 * then streams normalized records joined to their trace context.
 */
export async function* readInputs(paths: string[], opts: ReadOptions = {}): AsyncGenerator<SourceItem> {
  const inputs: DetectedInput[] = [];
  for (const path of paths) inputs.push(await detectInput(path));
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
    if (!normalize || (opts.resume && inputIndex < opts.resume.input)) continue;
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
  return readRaw(input.path, input.encoding);
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
