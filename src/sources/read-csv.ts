import type { Readable } from "node:stream";
import { parse, type CsvError } from "csv-parse";
import { readFailure } from "./read-bytes.js";
import type { RawItem } from "./read-raw.js";

/** A CSV cell as read: text, or null for an empty cell (exports write null as nothing). */
export type Cell = string | null;

/**
 * A CSV file with a header row, as objects keyed by the header. Positions are data rows,
 * 1-based, header excluded (`row 3`), whatever multi-line cells do to line numbers. A row with
 * the wrong number of cells is reported and reading goes on; broken quoting ends the file with
 * one entry, since after it the parser cannot tell cells from rows any more.
 */
export async function* readCsv(text: Readable): AsyncGenerator<RawItem> {
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true, skip_records_with_error: true });
  // Records (header included) parsed before the first quoting error: the rows after it are guesses.
  const quoting: { error: CsvError | null; records: number } = { error: null, records: 0 };
  parser.on("skip", (e: CsvError) => {
    if (quoting.error) return;
    quoting.error = e;
    quoting.records = Number(e["records"]);
  });
  text.on("error", (e) => parser.destroy(e));
  text.pipe(parser);
  let header: string[] | null = null;
  let row = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { records: number } }>) {
      if (quoting.error && info.records > quoting.records) break;
      if (header === null) {
        header = record;
        continue;
      }
      row = info.records - 1;
      yield rowItem(header, record, `row ${row}`);
    }
    if (quoting.error) {
      const position = quoting.records === 0 ? "header" : `row ${quoting.records}`;
      yield { ok: false, position, reason: `invalid CSV: ${quoting.error.message}; the rest of the file was not read` };
    }
  } catch (e) {
    yield { ok: false, position: `row ${row + 1}`, reason: `${readFailure(e)}; the rest of the file was not read` };
  } finally {
    text.destroy();
    parser.destroy();
  }
}

function rowItem(header: string[], cells: string[], position: string): RawItem {
  if (cells.length !== header.length) {
    return { ok: false, position, reason: `expected ${header.length} cells as in the header, got ${cells.length} (cut-off row or stray delimiter?)` };
  }
  const value: Record<string, Cell> = {};
  for (const [i, name] of header.entries()) {
    const cell = cells[i] ?? "";
    value[name] = cell === "" ? null : cell;
  }
  return { ok: true, value, position };
}
