import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VidsegError } from "../src/core/errors.js";
import { linearSumAssignment } from "../src/math/hungarian.js";
import { mulberry32 } from "./helpers/random.js";

/** The optimal assignment by trying every injective map from the smaller side to the larger. */
function bruteForce(cost: number[][], maximize: boolean): { total: number; pairs: string } {
  const nr = cost.length;
  const nc = cost[0]!.length;
  const transpose = nc < nr;
  const small = transpose ? nc : nr;
  const large = transpose ? nr : nc;
  const at = (s: number, l: number) => (transpose ? cost[l]![s]! : cost[s]![l]!);
  let best = maximize ? -Infinity : Infinity;
  let bestPairs: [number, number][] = [];
  const used = new Array<boolean>(large).fill(false);
  const chosen: number[] = [];
  const visit = (s: number, total: number) => {
    if (s === small) {
      if (maximize ? total > best : total < best) {
        best = total;
        bestPairs = chosen.map((l, k) => (transpose ? [l, k] : [k, l]));
      }
      return;
    }
    for (let l = 0; l < large; l++) {
      if (used[l]) continue;
      used[l] = true;
      chosen.push(l);
      visit(s + 1, total + at(s, l));
      chosen.pop();
      used[l] = false;
    }
  };
  visit(0, 0);
  bestPairs.sort((a, b) => a[0] - b[0]);
  return { total: best, pairs: JSON.stringify(bestPairs) };
}

function pairsOf(result: { rows: number[]; cols: number[] }): string {
  return JSON.stringify(result.rows.map((r, k) => [r, result.cols[k]]));
}

describe("linearSumAssignment", () => {
  it("matches brute force on tie-free random matrices, square and both rectangular orientations", () => {
    const random = mulberry32(7);
    let checked = 0;
    for (let trial = 0; trial < 400; trial++) {
      const nr = 1 + Math.floor(random() * 6);
      const nc = 1 + Math.floor(random() * 6);
      const cost = Array.from({ length: nr }, () => Array.from({ length: nc }, () => random() * 10 - 3));
      const maximize = trial % 3 === 0;
      const expected = bruteForce(cost, maximize);
      const result = linearSumAssignment(cost, maximize);
      expect(result.rows.length).toBe(Math.min(nr, nc));
      expect(pairsOf(result)).toBe(expected.pairs);
      checked++;
    }
    expect(checked).toBe(400);
  });

  it("gives scipy's exact assignment, ties included (golden from scipy)", () => {
    const golden = JSON.parse(
      readFileSync(new URL("golden/hungarian-scipy.json", import.meta.url), "utf8"),
    ) as {
      cases: { cost: (number | null)[][]; maximize: boolean; rows: number[]; cols: number[] }[];
    };
    expect(golden.cases.length).toBeGreaterThan(100);
    for (const c of golden.cases) {
      const cost = c.cost.map((row) => row.map((x) => (x === null ? Infinity : x)));
      const result = linearSumAssignment(cost, c.maximize);
      expect(result).toEqual({ rows: c.rows, cols: c.cols });
    }
  });

  it("returns the identity for a constant square matrix and sorted rows for a tall one", () => {
    expect(
      linearSumAssignment([
        [1, 1, 1],
        [1, 1, 1],
        [1, 1, 1],
      ]),
    ).toEqual({ rows: [0, 1, 2], cols: [0, 1, 2] });
    expect(linearSumAssignment([[5], [1], [3]])).toEqual({ rows: [1], cols: [0] });
    expect(linearSumAssignment([[5], [1], [3]], true)).toEqual({ rows: [0], cols: [0] });
    expect(linearSumAssignment([])).toEqual({ rows: [], cols: [] });
    expect(linearSumAssignment([[], []])).toEqual({ rows: [], cols: [] });
  });

  it("rejects NaN, -Infinity, ragged and infeasible matrices", () => {
    expect(() => linearSumAssignment([[0, NaN]])).toThrow(VidsegError);
    expect(() => linearSumAssignment([[0, -Infinity]])).toThrow(/invalid entry/);
    expect(() => linearSumAssignment([[0, Infinity]], true)).toThrow(/invalid entry/);
    expect(() => linearSumAssignment([[0, 1], [2]])).toThrow(/ragged/);
    expect(() =>
      linearSumAssignment([
        [Infinity, Infinity],
        [0, 1],
      ]),
    ).toThrow(/infeasible/);
  });
});
