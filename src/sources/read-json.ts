import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import Parser from "stream-json/Parser.js";
import StreamArray from "stream-json/streamers/StreamArray.js";
import type { DetectedInput } from "./source.js";

export type Encoding = DetectedInput["encoding"];

/** One raw element of an input: a parsed JSON object, or why it could not be read. */
export type RawItem =
  | { ok: true; value: Record<string, unknown>; position: string }
  | { ok: false; position: string; reason: string };

const BOM = "\uFEFF";

/**
 * Encoding from the first non-blank character: `[` is a JSON array, `{` is JSONL.
 * Returns the character seen instead when it is neither (null for an empty file), so the
 * caller can say what it found.
 */
export async function sniffEncoding(path: string): Promise<Encoding | { found: string | null }> {
  const stream = createReadStream(path, { encoding: "utf8", highWaterMark: 4096 });
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const text = chunk.replace(BOM, "").trimStart();
      if (text === "") continue;
      if (text[0] === "[") return "json-array";
      if (text[0] === "{") return "jsonl";
      return { found: text.slice(0, 20) };
    }
    return { found: null };
  } finally {
    stream.destroy();
  }
}

/** Streams the elements of one input; never holds the whole file. Stops early when the consumer does. */
export function readRaw(path: string, encoding: Encoding): AsyncGenerator<RawItem> {
  return encoding === "jsonl" ? readJsonLines(path) : readJsonArray(path);
}

async function* readJsonLines(path: string): AsyncGenerator<RawItem> {
  const stream = createReadStream(path, { encoding: "utf8" });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      const text = n === 1 ? line.replace(BOM, "") : line;
      if (text.trim() === "") continue;
      const position = `line ${n}`;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        yield { ok: false, position, reason: `invalid JSON: ${(e as Error).message}` };
        continue;
      }
      yield asObject(value, position);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

async function* readJsonArray(path: string): AsyncGenerator<RawItem> {
  const source = createReadStream(path);
  const parser = new TolerantParser();
  const elements = StreamArray.streamArray();
  source.on("error", (e) => elements.destroy(e));
  source.pipe(parser).pipe(elements);
  let index = 0;
  try {
    for await (const { key, value } of elements as AsyncIterable<{ key: number; value: unknown }>) {
      index = key + 1;
      yield asObject(value, `index ${key}`);
    }
    if (parser.failure) {
      yield {
        ok: false,
        position: `index ${index}`,
        reason: `invalid JSON: ${parser.failure.message}; the rest of the file was not read`,
      };
    }
  } finally {
    source.destroy();
    parser.destroy();
    elements.destroy();
  }
}

function asObject(value: unknown, position: string): RawItem {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    return { ok: true, value: value as Record<string, unknown>, position };
  }
  const got = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
  return { ok: false, position, reason: `not a JSON object (got ${got})` };
}

interface ParserInternals {
  _buffer: string;
  _processBuffer(this: Parser, callback: (error?: Error | null) => void): void;
  _flush(this: Parser, callback: (error?: Error | null) => void): void;
}
const parserInternals = Parser.prototype as unknown as ParserInternals;

/**
 * stream-json's Parser fails the stream on a syntax error, and Node then destroys the whole
 * pipe, dropping elements already parsed but still buffered (thousands on a big file). A JSON
 * array cannot be resynchronised anyway, so record the failure and end cleanly instead: every
 * element before the error still reaches the reader, in order. Also drops a leading UTF-8 BOM.
 */
class TolerantParser extends Parser {
  failure: Error | null = null;
  private started = false;

  _processBuffer(callback: (error?: Error | null) => void): void {
    const self = this as unknown as ParserInternals;
    if (this.failure) {
      self._buffer = "";
      return callback(null);
    }
    if (!this.started && self._buffer !== "") {
      this.started = true;
      self._buffer = self._buffer.replace(/^\uFEFF/, "");
    }
    parserInternals._processBuffer.call(this, (error) => {
      if (error) {
        this.failure = error;
        self._buffer = "";
      }
      callback(null);
    });
  }

  override _flush(callback: (error?: Error | null) => void): void {
    parserInternals._flush.call(this, (error) => {
      if (error && !this.failure) this.failure = error;
      callback(null);
    });
  }
}
