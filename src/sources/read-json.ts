import type { Readable } from "node:stream";
import Assembler from "stream-json/Assembler.js";
import Parser from "stream-json/Parser.js";
import { unwrapEnvelope, type Envelope } from "./formats/envelope.js";
import { readFailure } from "./read-bytes.js";
import type { RawItem } from "./read-raw.js";

const BOM = "\uFEFF";

/**
 * The JSON container from a file's first characters: `[` is an array, `{` is JSONL unless the
 * first line only opens an object (`{` or `{"runs": [`), which is a pretty-printed document.
 * Null when the text does not start like JSON.
 */
export function sniffJson(head: string): "json-array" | "jsonl" | "json-document" | null {
  const text = head.replace(BOM, "").trimStart();
  if (text[0] === "[") return "json-array";
  if (text[0] !== "{") return null;
  const firstLine = (text.split("\n")[0] ?? "").trim();
  return /^\{\s*("(?:[^"\\]|\\.)*"\s*:\s*[[{]?)?$/.test(firstLine) ? "json-document" : "jsonl";
}

/**
 * JSONL: one record, or one API page of records, per line. Positions are physical lines,
 * 1-based (`line 7`, `line 3 runs[12]` inside a page). A bad line is reported and reading goes on.
 * `text` may give strings or Buffers (faster: lines are cut on bytes, each decoded once).
 */
export async function* readJsonLines(text: Readable, envelopes: readonly Envelope[]): AsyncGenerator<RawItem> {
  for await (const batch of readJsonLineBatches(text, envelopes)) yield* batch;
}

/** readJsonLines a chunk of the file at a time (one await per chunk instead of one per record). */
export async function* readJsonLineBatches(text: Readable, envelopes: readonly Envelope[]): AsyncGenerator<RawItem[]> {
  let n = 0;
  try {
    for await (const lines of lineBatches(text)) {
      const out: RawItem[] = [];
      for (const raw of lines) {
        n++;
        let line = n === 1 ? raw.replace(BOM, "") : raw;
        if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
        // A line starting with "{" is not blank; anything else may be whitespace only.
        if (line.charCodeAt(0) !== 123 && line.trim() === "") continue;
        const position = `line ${n}`;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch (e) {
          out.push({ ok: false, position, reason: `invalid JSON: ${(e as Error).message}` });
          continue;
        }
        if (isObject(value) && !mayBeEnvelope(value, envelopes)) out.push({ ok: true, value, position });
        else for (const item of recordsOf(value, position, envelopes)) out.push(item);
      }
      if (out.length > 0) yield out;
    }
  } catch (e) {
    yield [{ ok: false, position: `line ${n + 1}`, reason: `${readFailure(e)}; the rest of the file was not read` }];
  } finally {
    text.destroy();
  }
}

/** False when no envelope's key is on the object, so it cannot be a page (saves unwrapping every record). */
function mayBeEnvelope(value: Record<string, unknown>, envelopes: readonly Envelope[]): boolean {
  for (const e of envelopes) if (e.key in value) return true;
  return false;
}

function* recordsOf(value: unknown, position: string, envelopes: readonly Envelope[]): Generator<RawItem> {
  const page = isObject(value) ? unwrapEnvelope(value, envelopes) : null;
  if (!page) {
    yield asObject(value, position);
    return;
  }
  for (const [i, item] of page.items.entries()) yield asObject(item, `${position} ${page.key}[${i}]`);
}

/**
 * Lines of a stream of strings or Buffers, without the newline, a chunk's worth at a time (one
 * await per chunk, not per line); memory is bounded by the longest line. Buffers are cut at
 * "\n" bytes (never inside a UTF-8 character) and each line decoded once; a line spanning many
 * chunks is joined once, not re-scanned as it grows.
 */
async function* lineBatches(stream: Readable): AsyncGenerator<string[]> {
  let pending: string[] = [];
  let parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<string | Buffer>) {
    const out: string[] = [];
    if (typeof chunk === "string") {
      let start = 0;
      let nl: number;
      while ((nl = chunk.indexOf("\n", start)) >= 0) {
        pending.push(chunk.slice(start, nl));
        out.push(pending.join(""));
        pending = [];
        start = nl + 1;
      }
      if (start < chunk.length) pending.push(chunk.slice(start));
    } else {
      let start = 0;
      let nl: number;
      while ((nl = chunk.indexOf(10, start)) >= 0) {
        if (parts.length > 0) {
          parts.push(chunk.subarray(start, nl));
          out.push(Buffer.concat(parts).toString("utf8"));
          parts = [];
        } else out.push(chunk.toString("utf8", start, nl));
        start = nl + 1;
      }
      if (start < chunk.length) parts.push(chunk.subarray(start));
    }
    if (out.length > 0) yield out;
  }
  if (pending.length > 0) yield [pending.join("")];
  if (parts.length > 0) yield [Buffer.concat(parts).toString("utf8")];
}

/**
 * One JSON value streamed token by token: a top-level array yields its elements (`index N`,
 * 0-based); a top-level object that is an API page yields the page's records (`runs[N]`), any
 * other object is one record (`document`). Elements are handed out as soon as they are complete,
 * so memory is bounded by the largest record. A syntax error ends the file with one entry: a JSON
 * document cannot be resynchronised, but everything before the error is kept.
 */
export async function* readJsonDocument(bytes: Readable, envelopes: readonly Envelope[]): AsyncGenerator<RawItem> {
  const parser = new TolerantParser({ streamValues: false });
  bytes.on("error", (e) => parser.destroy(e));
  bytes.pipe(parser);
  const keys = new Set(envelopes.map((e) => e.key));
  const asm = new Assembler();
  let top: "array" | "object" | null = null;
  let pageKey: string | null = null;
  let count = 0;
  const next = () => (top === "array" ? `index ${count}` : pageKey !== null ? `${pageKey}[${count}]` : "document");
  try {
    for await (const token of parser as AsyncIterable<{ name: string; value?: string }>) {
      asm.consume(token);
      if (top === null) {
        if (token.name === "startArray") top = "array";
        else if (token.name === "startObject") top = "object";
        else if (asm.done) {
          yield asObject(asm.current, "document");
          return;
        }
        continue;
      }
      if (top === "array" && asm.depth === 1 && Array.isArray(asm.current) && asm.current.length > 0) {
        yield asObject(asm.current.pop(), `index ${count++}`);
      } else if (top === "object" && asm.depth === 2 && Array.isArray(asm.current)) {
        const key = asm.stack[1];
        if (typeof key === "string" && keys.has(key) && (pageKey === null || pageKey === key)) {
          pageKey = key;
          if (asm.current.length > 0) yield asObject(asm.current.pop(), `${key}[${count++}]`);
        }
      }
    }
    if (parser.failure) {
      yield { ok: false, position: next(), reason: `invalid JSON: ${parser.failure.message}; the rest of the file was not read` };
    } else if (top === "object" && pageKey === null && asm.done) {
      yield asObject(asm.current, "document");
    }
  } catch (e) {
    yield { ok: false, position: next(), reason: `${readFailure(e)}; the rest of the file was not read` };
  } finally {
    bytes.destroy();
    parser.destroy();
  }
}

export function asObject(value: unknown, position: string): RawItem {
  if (isObject(value)) return { ok: true, value, position };
  const got = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
  return { ok: false, position, reason: `not a JSON object (got ${got})` };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
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
