import { describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";

describe("Rng (xoshiro128**)", () => {
  it("produces the reference xoshiro128** sequence from state [1, 2, 3, 4]", () => {
    // First outputs of the reference C implementation (Blackman & Vigna) for s = {1, 2, 3, 4}.
    const rng = Rng.fromState([1, 2, 3, 4]);
    expect(Array.from({ length: 6 }, () => rng.next())).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492,
    ]);
  });

  it("seeds through SplitMix32", () => {
    expect(new Rng(42).getState()).toEqual([939911724, 3948730756, 321366731, 3317318717]);
    expect(new Rng(1).getState()).not.toEqual(new Rng(2 ** 32 + 1).getState());
  });

  it("is deterministic and resumes exactly from a saved state", () => {
    const a = new Rng(7);
    const b = new Rng(7);
    for (let i = 0; i < 100; i++) a.next();
    for (let i = 0; i < 100; i++) b.next();
    const state = a.getState();
    const restored = Rng.fromState(JSON.parse(JSON.stringify(state)));
    const fromA = [a.uniform(), a.normal(), a.int(10), a.next()];
    expect([restored.uniform(), restored.normal(), restored.int(10), restored.next()]).toEqual(fromA);
    expect([b.uniform(), b.normal(), b.int(10), b.next()]).toEqual(fromA);
  });

  it("has the right moments for uniform and normal", () => {
    const rng = new Rng(123);
    const n = 100_000;
    let sumU = 0;
    let sumN = 0;
    let sumN2 = 0;
    let outOfRange = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      if (!(u >= 0 && u < 1)) outOfRange++;
      sumU += u;
      const z = rng.normal();
      sumN += z;
      sumN2 += z * z;
    }
    expect(outOfRange).toBe(0);
    expect(sumU / n).toBeCloseTo(0.5, 2);
    expect(sumN / n).toBeCloseTo(0, 1);
    expect(sumN2 / n).toBeCloseTo(1, 1);
  });

  it("draws unbiased integers, shuffles into permutations and chooses members", () => {
    const rng = new Rng(5);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[rng.int(6)]++;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(400);
    const perm = rng.permutation(50);
    expect([...perm].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(perm).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(["a", "b", "c"]).toContain(rng.choice(["a", "b", "c"]));
    expect(rng.int(1)).toBe(0);
  });

  it("forks independent child streams deterministically", () => {
    const parent1 = new Rng(9);
    const parent2 = new Rng(9);
    const child1 = parent1.fork();
    const child2 = parent2.fork();
    expect(child1.next()).toBe(child2.next());
    expect(parent1.next()).toBe(parent2.next());
    expect(child1.getState()).not.toEqual(parent1.getState());
  });

  it("rejects invalid input", () => {
    const rng = new Rng(1);
    expect(() => rng.int(0)).toThrow(/int\(n\)/);
    expect(() => rng.choice([])).toThrow(/empty/);
    expect(() => rng.setState([0, 0, 0, 0])).toThrow(/invalid RNG state/);
    expect(() => rng.setState([1, 2, 3] as never)).toThrow(/invalid RNG state/);
    expect(() => new Rng(Number.NaN)).toThrow(/seed/);
  });
});
