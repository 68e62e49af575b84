/**
 * Stateless integer hashing. The renderer uses it for per-pixel sensor noise (a value per (pixel, frame)
 * without storing or drawing millions of random numbers), and scene planning uses it to derive one
 * independent seed per (seed, split, video), so that a video does not change when only the number of
 * videos changes.
 */

/** A well-mixed 32-bit unsigned hash of four integers. */
export function hash4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ d, 0x165667b1);
  return (h ^ (h >>> 16)) >>> 0;
}
