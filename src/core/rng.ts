import { VidsegError } from "./errors.js";
import { showValue } from "./json.js";

/** The complete state of an {@link Rng}: four 32-bit words, JSON-serialisable (checkpoints store it). */
export type RngState = [number, number, number, number];

const TWO_POW_32 = 4294967296;

/** SplitMix32 step: spreads a seed over the full state so that nearby seeds give unrelated streams. */
function splitMix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * A small, fast, seedable pseudo-random generator (xoshiro128**, seeded through SplitMix32). Every
 * random choice in the project (data sampling, augmentation, point sampling, synthetic data) draws from
 * one of these so that runs are reproducible; `getState`/`setState` let a resumed run continue the exact
 * same stream. Not cryptographic.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed = 0) {
    if (!Number.isFinite(seed)) throw new VidsegError(`seed must be a finite number, got ${seed}`);
    // Fold the high bits of seeds above 2^32 in, so that e.g. 1 and 2^32 + 1 differ.
    const mix = splitMix32((seed >>> 0) ^ Math.floor(seed / TWO_POW_32));
    this.s0 = mix();
    this.s1 = mix();
    this.s2 = mix();
    this.s3 = mix();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** A new generator restored from a state saved with {@link getState}. */
  static fromState(state: RngState): Rng {
    const rng = new Rng(0);
    rng.setState(state);
    return rng;
  }

  /** The next raw 32-bit unsigned integer. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits (two draws). */
  uniform(): number {
    const high = this.next() >>> 5; // 27 bits
    const low = this.next() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Uniform in [low, high). */
  range(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** Standard normal (Box–Muller; one value per call, no cached spare, so the state stays four words). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.uniform(); // (0, 1]: log stays finite
    const u2 = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [0, n), without modulo bias (rejection sampling). n must be in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new VidsegError(`int(n) needs an integer n in [1, 2^32], got ${n}`);
    }
    // Reject the top partial block of the 2^32 range so that every residue is equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.next();
      if (x < limit) return x % n;
    }
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const swap = items[i];
      items[i] = items[j];
      items[j] = swap;
    }
    return items;
  }

  /** A uniformly chosen element of a non-empty array. */
  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new VidsegError("choice() from an empty array");
    return items[this.int(items.length)];
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** A Float32Array of independent normals (e.g. for weight initialisation or synthetic data). */
  normalArray(length: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /**
   * A child generator for an independent sub-stream (e.g. one per worker or per video), seeded from this
   * one; advances this generator by two draws.
   */
  fork(): Rng {
    return new Rng(this.next() * TWO_POW_32 + this.next());
  }

  /** A 31-bit non-negative integer seed, e.g. for the `seed` argument of tf.randomNormal / tf.dropout. */
  seed(): number {
    return this.next() >>> 1;
  }

  getState(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  setState(state: RngState): void {
    const valid =
      Array.isArray(state) &&
      state.length === 4 &&
      state.every((word) => Number.isInteger(word) && word >= 0 && word < TWO_POW_32) &&
      state.some((word) => word !== 0);
    if (!valid) throw new VidsegError(`invalid RNG state ${showValue(state)}: expected four uint32 words`);
    [this.s0, this.s1, this.s2, this.s3] = state.map((word) => word | 0);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
