import { createHash } from "node:crypto";

/**
 * What the ledger stores per delivered event: a 64-bit fingerprint (an intset member) and 32
 * routing bits that choose the bucket. Both come from disjoint bits of the event key's hash, so
 * the routing bits are never stored yet still discriminate: a lookup only compares against the
 * few hundred members of one bucket per live epoch (see redis-ledger.ts for the arithmetic).
 */
export interface Fingerprint {
  /** Signed 64-bit integer in canonical decimal form (what Redis keeps in an intset as 8 bytes). */
  fp: string;
  /** 0 ≤ route < 2^32; a bucket at depth d is its top d bits. */
  route: number;
}

/** `tb_` + 32 base64url chars = 192 bits of SHA-256 (src/model/idempotency.ts). */
const TB_KEY = /^tb_[A-Za-z0-9_-]{32}$/;

/**
 * Fingerprint of an event key. tracebill keys already are hash output, so their bytes are
 * decoded (bytes 0–7 → fp, 8–11 → route). Any other string (a foreign id, a test id) is hashed
 * with SHA-256 first, so it gets equally uniform bits.
 */
export function fingerprint(key: string): Fingerprint {
  const bytes = TB_KEY.test(key) ? Buffer.from(key.slice(3), "base64url") : createHash("sha256").update(key).digest();
  return { fp: bytes.readBigInt64BE(0).toString(), route: bytes.readUInt32BE(8) };
}
