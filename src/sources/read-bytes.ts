import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { constants, createGunzip, gunzipSync } from "node:zlib";

export type Compression = "gzip" | null;

/** How much of a file detection looks at: enough for a header row or a first record's start. */
export const HEAD_BYTES = 64 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * The file's first bytes, decompressed when they start with the gzip magic (names lie: a
 * `.json` can be gzip, a `.gz` can be plain). A truncated gzip still yields what it holds.
 */
export async function readHead(path: string): Promise<{ compression: Compression; head: Buffer }> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    const raw = buffer.subarray(0, bytesRead);
    if (raw[0] !== GZIP_MAGIC[0] || raw[1] !== GZIP_MAGIC[1]) return { compression: null, head: raw };
    return { compression: "gzip", head: gunzipHead(raw) };
  } finally {
    await handle.close();
  }
}

function gunzipHead(raw: Buffer): Buffer {
  try {
    // Z_SYNC_FLUSH: give back what decompresses so far instead of failing on the cut-off end.
    return gunzipSync(raw, { finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    return Buffer.alloc(0);
  }
}

/** The file's bytes as a stream, gunzipped when compressed. */
export function openBytes(path: string, compression: Compression): Readable {
  // 1 MiB reads: the 64 KiB default costs many more stream round trips on multi-GB exports.
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  if (compression !== "gzip") return file;
  const gunzip = createGunzip();
  file.on("error", (e) => gunzip.destroy(e));
  // Destroying the reader must also release the file.
  gunzip.on("close", () => file.destroy());
  return file.pipe(gunzip);
}

/** The file's text (UTF-8) as a stream of strings; multi-byte characters are never split. */
export function openText(path: string, compression: Compression): Readable {
  const stream = openBytes(path, compression);
  stream.setEncoding("utf8");
  return stream;
}

/**
 * Why a file could not be read to its end, for the quarantine entry that stops it. Damaged
 * gzip data is bad input, reported like a bad record; anything else (a disk error) is thrown.
 */
export function readFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  if (code.startsWith("Z_") || code === "ERR_ZLIB_INITIALIZATION_FAILED") {
    return `gzip data is truncated or corrupt (${(e as Error).message})`;
  }
  throw e;
}
