import { PARQUET_MAGIC } from "../read-parquet.js";
import { sniffJson } from "../read-json.js";
import type { Container } from "../source.js";

/**
 * The container from a file's first (decompressed) bytes: Parquet by its magic, JSON by its
 * first character, CSV by a first line with a delimiter. Otherwise what the file starts with
 * (null when it is empty or blank), so the caller can say what it found.
 */
export function sniffContainer(head: Buffer): Container | { found: string | null } {
  if (head.subarray(0, 4).toString("latin1") === PARQUET_MAGIC) return "parquet";
  const text = head.toString("utf8").replace(/^\uFEFF/, "");
  const json = sniffJson(text);
  if (json) return json;
  const firstLine = text.trimStart().split(/\r?\n/)[0] ?? "";
  if (/^("|[A-Za-z_])/.test(firstLine) && firstLine.includes(",")) return "csv";
  const start = text.trimStart();
  return { found: start === "" ? null : start.slice(0, 20) };
}
