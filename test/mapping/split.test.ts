import { describe, expect, it } from "vitest";
import { apportion } from "../../src/mapping/index.js";

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe("apportion: largest-remainder split of a whole quantity", () => {
  it.each([
    [1000, [1, 1, 1], [334, 333, 333]],
    [1000, [300, 700], [300, 700]],
    [10, [1, 1, 1], [4, 3, 3]],
    [2, [1, 1, 1], [1, 1, 0]],
    [1, [1, 1, 1], [1, 0, 0]],
    [1, [1, 3], [0, 1]],
    [100, [1, 2, 3, 4], [10, 20, 30, 40]],
    [7, [0.5, 0.25, 0.25], [3, 2, 2]],
    [99, [1 / 3, 1 / 3, 1 / 3], [33, 33, 33]],
    [100, [1 / 3, 1 / 3, 1 / 3], [34, 33, 33]],
    [5, [2, 0, 3], [2, 0, 3]],
    [6, [1, 0, 1], [3, 0, 3]],
    [0, [1, 2], [0, 0]],
    [1001, [3, 3, 2], [376, 375, 250]],
  ])("%i over %j → %j", (total, weights, parts) => {
    const got = apportion(total, weights);
    expect(got).toEqual(parts);
    expect(sum(got)).toBe(total);
  });

  it("breaks ties toward the earlier share and is deterministic", () => {
    expect(apportion(5, [1, 1, 1, 1])).toEqual([2, 1, 1, 1]);
    expect(apportion(5, [1, 1, 1, 1])).toEqual(apportion(5, [1, 1, 1, 1]));
    // 3 over 2/1/1/2 = 1, 0.5, 0.5, 1: one unit left for two equal remainders → the earlier one.
    expect(apportion(3, [2, 1, 1, 2])).toEqual([1, 1, 0, 1]);
  });

  it("gives the larger remainder the extra unit before a tie", () => {
    // 10 × 2/7 = 2.857, 10 × 5/7 = 7.142: floors 2 + 7 = 9, the unit goes to the .857.
    expect(apportion(10, [2, 5])).toEqual([3, 7]);
  });

  it("always sums exactly, over many totals and weights", () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const total = Math.floor(rand() * 1e7);
      const weights: number[] = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => (rand() < 0.2 ? 0 : Math.round(rand() * 1e4) / (rand() < 0.5 ? 1 : 100)));
      if (!weights.some((w) => w > 0)) weights[0] = 1;
      const parts = apportion(total, weights);
      expect(sum(parts)).toBe(total);
      parts.forEach((p, j) => {
        const exact = (total * weights[j]!) / sum(weights);
        expect(Math.abs(p - exact)).toBeLessThan(1 + 1e-9);
        if (weights[j] === 0) expect(p).toBe(0);
      });
    }
  });

  it("refuses what it cannot split exactly", () => {
    expect(() => apportion(10.5, [1, 1])).toThrow(/not a whole number/);
    expect(() => apportion(10, [0, 0])).toThrow(/every share weighs 0/);
    expect(() => apportion(10, [1, -1])).toThrow(/not a number ≥ 0/);
  });
});
