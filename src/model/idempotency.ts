import { createHash } from "node:crypto";

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
  // Length-prefix every part so ("ab","c") and ("a","bc") never collide. One update() of the
  // joined text hashes the same bytes as one per part (keys unchanged) at a fraction of the cost.
  let text = "";
  for (const part of [p.platform, p.recordId, p.mapping, p.metric, p.discriminator, String(p.split)]) text += `${part.length}:${part}|`;
  return "tb_" + createHash("sha256").update(text).digest("base64url").slice(0, 32);
}
