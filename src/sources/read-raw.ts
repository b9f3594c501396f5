import { dialectOf } from "./formats/dialects.js";
import { PAGE_ENVELOPES } from "./formats/pages.js";
import { openBytes, openText, type Compression } from "./read-bytes.js";
import { readCsv } from "./read-csv.js";
import { readJsonDocument, readJsonLineBatches, readJsonLines } from "./read-json.js";
import { readParquet } from "./read-parquet.js";
import type { Container, DetectedInput } from "./source.js";

/** One raw element of an input: an object in its platform's API shape, or why it could not be read. */
export type RawItem =
  | {
      ok: true;
      value: Record<string, unknown>;
      position: string;
      /** What the user should know about this record (e.g. a cache split the export cannot give). */
      notes?: string[];
    }
  | { ok: false; position: string; reason: string };

export type RawInput = Pick<DetectedInput, "path" | "kind" | "container" | "compression" | "dialect">;

/**
 * Streams the records of one input in its platform's API shape: the container is unpacked (gzip,
 * JSONL, JSON array or page, CSV, Parquet) and the export dialect translated (snake_case blob
 * rows, JSON text in cells). Never holds the whole file; stops early when the consumer does.
 * Malformed elements become `ok: false` items with a position, and reading goes on.
 */
export async function* readRaw(input: RawInput): AsyncGenerator<RawItem> {
  const dialect = dialectOf(input.kind, input.dialect);
  if (!dialect.translate) {
    // Records already in the API shape: no per-item hop through this generator.
    yield* readContainer(input.path, input.container, input.compression, dialect.unread);
    return;
  }
  for await (const item of readContainer(input.path, input.container, input.compression, dialect.unread)) {
    if (!item.ok || !dialect.translate) {
      yield item;
      continue;
    }
    let value: Record<string, unknown>;
    try {
      value = dialect.translate(item.value);
    } catch (e) {
      yield { ok: false, position: item.position, reason: e instanceof Error ? e.message : String(e) };
      continue;
    }
    const notes = dialect.notes?.(value);
    yield notes && notes.length > 0 ? { ok: true, value, position: item.position, notes } : { ok: true, value, position: item.position };
  }
}

/**
 * readRaw a batch at a time: a JSONL file in the API shape comes a chunk of the file per batch
 * (one await per chunk, not per record: the hot path of big exports); anything else one item per batch.
 */
export async function* readRawBatches(input: RawInput): AsyncGenerator<RawItem[]> {
  const dialect = dialectOf(input.kind, input.dialect);
  if (input.container === "jsonl" && !dialect.translate) {
    yield* readJsonLineBatches(openBytes(input.path, input.compression), PAGE_ENVELOPES);
    return;
  }
  for await (const item of readRaw(input)) yield [item];
}

/** The container alone, records as written (used by detection before the dialect is known). */
export function readContainer(path: string, container: Container, compression: Compression, unread: readonly string[] = []): AsyncGenerator<RawItem> {
  switch (container) {
    case "jsonl":
      return readJsonLines(openBytes(path, compression), PAGE_ENVELOPES);
    case "json-array":
    case "json-document":
      return readJsonDocument(openBytes(path, compression), PAGE_ENVELOPES);
    case "csv":
      return readCsv(openText(path, compression));
    case "parquet":
      return readParquet(path, unread.length ? { columns: (names) => names.filter((n) => !unread.includes(n)) } : {});
  }
}
