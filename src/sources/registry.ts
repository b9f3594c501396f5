import { UserError, type Platform } from "../model/index.js";
import { ContextIndex } from "./context.js";
import { langfuseObservations, langfuseTraces } from "./langfuse/format.js";
import { langSmithRuns } from "./langsmith/format.js";
import { readRaw, sniffEncoding, type RawItem } from "./read-json.js";
import type { DetectedInput, InputFormat, InputKind, SourceItem, TraceSource } from "./source.js";

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
export async function* readInputs(paths: string[]): AsyncGenerator<SourceItem> {
  const inputs: DetectedInput[] = [];
  for (const path of paths) inputs.push(await detectInput(path));
  yield* readDetected(inputs);
}

/**
 * Two passes, never a whole file in memory: the first builds the context index from every
 * input (so order does not matter), the second normalizes, joins and yields. Bad records
 * become quarantine entries, once, and reading goes on.
 */
export async function* readDetected(inputs: DetectedInput[]): AsyncGenerator<SourceItem> {
  const index = new ContextIndex();
  for (const input of inputs) {
    const format: InputFormat = formats[input.kind];
    // Context-only inputs are not read again, so their bad records are reported now.
    const reportHere = !format.normalize;
    for await (const item of readRaw(input.path, input.encoding)) {
      if (!item.ok) {
        if (reportHere) yield quarantine(input, item);
        continue;
      }
      try {
        index.add(format.platform, format.context(item.value));
      } catch (e) {
        if (reportHere) yield quarantine(input, { ...item, ok: false, reason: reasonOf(e) });
      }
    }
  }
  index.seal();
  for (const input of inputs) {
    const format: InputFormat = formats[input.kind];
    if (!format.normalize) continue;
    for await (const item of readRaw(input.path, input.encoding)) {
      if (!item.ok) {
        yield quarantine(input, item);
        continue;
      }
      let record;
      try {
        record = format.normalize(item.value);
      } catch (e) {
        yield quarantine(input, { ok: false, position: item.position, reason: reasonOf(e) });
        continue;
      }
      record = index.apply(record);
      if (format.refine) record = format.refine(record);
      yield { kind: "record", record, input: input.path, position: item.position };
    }
  }
}

/** The TraceSource contract per platform, over already-detected inputs. */
export const sources = {
  langsmith: sourceFor("langsmith"),
  langfuse: sourceFor("langfuse"),
} satisfies Record<Platform, TraceSource>;

function sourceFor(platform: Platform): TraceSource {
  return { platform, read: (inputs) => readDetected(inputs.filter((i) => i.platform === platform)) };
}

function quarantine(input: DetectedInput, item: Extract<RawItem, { ok: false }>): SourceItem {
  return { kind: "quarantine", entry: { input: input.path, position: item.position, reason: item.reason } };
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
