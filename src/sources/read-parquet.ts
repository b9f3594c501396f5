import { open, type FileHandle } from "node:fs/promises";
import { parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer, type FileMetaData } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import type { RawItem } from "./read-raw.js";

export const PARQUET_MAGIC = "PAR1";

/**
 * A Parquet file, one row group at a time, through a file handle: never the whole file in
 * memory, only the row group being handed out (bulk exports are zstd, gzip or snappy inside).
 * Positions are rows, 1-based like CSV data rows (`row 12`). A row group that cannot be decoded
 * is reported once and the next one is read.
 */
export async function* readParquet(path: string, opts: { columns?: (names: string[]) => string[]; limit?: number } = {}): AsyncGenerator<RawItem> {
  const handle = await open(path, "r");
  try {
    const file = await fileBuffer(handle);
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(file);
    } catch (e) {
      yield { ok: false, position: "row 1", reason: `not a readable Parquet file (${(e as Error).message}); the file was not read` };
      return;
    }
    const names = columnNames(metadata);
    const columns = opts.columns ? opts.columns(names) : undefined;
    let rowStart = 0;
    let left = opts.limit ?? Infinity;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Math.min(Number(group.num_rows), left);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, columns, compressors });
      } catch (e) {
        yield { ok: false, position: `row ${rowStart + 1}`, reason: `rows ${rowStart + 1}-${rowEnd}: cannot decode this row group (${(e as Error).message})` };
        rows = [];
      }
      for (const [i, row] of rows.entries()) {
        yield { ok: true, value: plain(row) as Record<string, unknown>, position: `row ${rowStart + i + 1}` };
      }
      left -= rowEnd - rowStart;
      rowStart += Number(group.num_rows);
      if (left <= 0) break;
    }
  } finally {
    await handle.close();
  }
}

export function columnNames(metadata: FileMetaData): string[] {
  return parquetSchema(metadata).children.map((c) => c.element.name);
}

async function fileBuffer(handle: FileHandle): Promise<AsyncBuffer> {
  const { size } = await handle.stat();
  return {
    byteLength: size,
    async slice(start: number, end: number = size): Promise<ArrayBuffer> {
      const length = Math.max(0, Math.min(end, size) - start);
      const bytes = new Uint8Array(length);
      let read = 0;
      while (read < length) {
        const { bytesRead } = await handle.read(bytes, read, length - read, start + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      return bytes.buffer;
    },
  };
}

/**
 * Parquet values as JSON would have them: INT64 arrives as bigint (exact when safe, else left for
 * the validators to reject), timestamps as Date (ISO-8601 UTC), maps as objects, lists as arrays.
 */
function plain(value: unknown): unknown {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && value !== null && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}
