import type { Platform } from "../../model/index.js";
import type { Json } from "../raw.js";
import type { Container, Dialect, InputKind } from "../source.js";

/**
 * One export's way of writing one kind of record. Detection tries them in order on the first
 * records of a file; reading translates every record to the kind's API shape, so the platform
 * normalizers see one shape whatever the export.
 */
export interface DialectSpec {
  readonly platform: Platform;
  readonly kind: InputKind;
  readonly dialect: Dialect;
  /** Does this record, as the container holds it, look like this dialect? */
  recognise(row: Json, container: Container): boolean;
  /** Record → the kind's API shape. Throws a plain Error whose message is the quarantine reason. */
  translate?(row: Json): Json;
  /** Per-record notes for the user, on the translated record. */
  notes?(record: Json): string[] | undefined;
  /** Notes about every input of this dialect. */
  readonly inputNotes?: readonly string[];
  /** Payload columns nothing downstream reads: a columnar container skips them (memory per Parquet row group). */
  readonly unread?: readonly string[];
  /** Chosen when the kind is forced (`--format`) but no record is recognised. */
  fallbackFor?(container: Container): boolean;
}
