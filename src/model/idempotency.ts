import { hash } from "node:crypto";

/** What identifies one billable quantity across replays of the same export. */
export interface KeyParts {
  platform: string;
  recordId: string;
  mapping: string;
  metric: string;
  /** Distinguishes several events one rule emits for the same record and metric (e.g. "input" / "output"). */
  discriminator: string;
  /** Index of the share when a batched call is split between tenants; 0 otherwise. */
  split: number;
}

/**
 * Deterministic, URL-safe idempotency key: `tb_` + 32 base64url chars (192 bits of SHA-256).
 * Used verbatim as Lago `transaction_id` and CloudEvents `id`; safe in URL paths
 * (the Lago client does not encode path parameters).
 */
export function idempotencyKey(p: KeyParts): string {
  // Length-prefix every part so ("ab","c") and ("a","bc") never collide. The joined text hashes
  // the same bytes as one update() per part (keys unchanged); the one-shot hash() skips the
  // Hash object, which dominated the cost of a key.
  const split = String(p.split);
  const text = `${p.platform.length}:${p.platform}|${p.recordId.length}:${p.recordId}|${p.mapping.length}:${p.mapping}|` +
    `${p.metric.length}:${p.metric}|${p.discriminator.length}:${p.discriminator}|${split.length}:${split}|`;
  return "tb_" + hash("sha256", text, "base64url").slice(0, 32);
}
