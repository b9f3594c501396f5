/**
 * @module Pro-rata split of a whole quantity between weighted shares, exactly: largest-remainder
 * (Hamilton) rounding in integer arithmetic, so the parts always add up to the total and the
 * same inputs always give the same parts.
 */

export class SplitError extends Error {
  override name = "SplitError";
}

/** Weights are used with at most this many decimal places (1/3 as 0.333333333). */
const MAX_DECIMALS = 9;

/**
 * `total` split by `weights`: each part is the floor of its exact share, and the units left over
 * go one each to the largest remainders; equal remainders go to the earlier weight (the caller
 * orders weights by customer). A weight of 0 gets 0. 1000 over 1/1/1 → 334/333/333.
 */
export function apportion(total: number, weights: readonly number[]): number[] {
  if (!Number.isSafeInteger(total) || total < 0) {
    throw new SplitError(`the quantity ${total} is not a whole number; shares are whole units (round it in the quantity, e.g. round(…))`);
  }
  const scaled = toIntegers(weights);
  const sum = scaled.reduce((a, w) => a + w, 0n);
  if (sum === 0n) throw new SplitError("every share weighs 0");
  const t = BigInt(total);
  const parts = scaled.map((w) => (t * w) / sum);
  const remainders = scaled.map((w) => (t * w) % sum);
  let left = Number(t - parts.reduce((a, p) => a + p, 0n));
  const order = remainders.map((r, i) => ({ r, i })).sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (const { i } of order) {
    if (left === 0) break;
    parts[i]! += 1n;
    left--;
  }
  return parts.map(Number);
}

/** Weights as integers in a common decimal scale, exactly as written up to MAX_DECIMALS places. */
function toIntegers(weights: readonly number[]): bigint[] {
  let decimals = 0;
  for (const w of weights) {
    if (!Number.isFinite(w) || w < 0) throw new SplitError(`weight ${w} is not a number ≥ 0`);
    if (w >= 1e21) throw new SplitError(`weight ${w} is too large`);
    const text = String(w);
    decimals = Math.max(decimals, text.includes("e") ? MAX_DECIMALS : (text.split(".")[1]?.length ?? 0));
  }
  decimals = Math.min(decimals, MAX_DECIMALS);
  return weights.map((w) => BigInt(w.toFixed(decimals).replace(".", "")));
}
