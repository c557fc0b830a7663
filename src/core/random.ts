// Counter-based random numbers: every draw is a pure function of (seed, stream, counter),
// so results never depend on the order in which workers or batches ask for them.
// The mixer chains murmur3's 32-bit finaliser over the key words (plain 32-bit integer
// arithmetic, so it is fast and identical on every thread and platform).

/** murmur3's 32-bit finaliser (also the per-draw mixer of src/attack/nes.ts). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of a key made of up to four unsigned 32-bit words. */
export function hash32(a: number, b = 0, c = 0, d = 0): number {
  let h = fmix32((a ^ 0x9e3779b9) >>> 0);
  h = fmix32((h ^ Math.imul(b ^ 0x7f4a7c15, 0x2545f491)) >>> 0);
  h = fmix32((h ^ Math.imul(c ^ 0x27d4eb2f, 0x165667b1)) >>> 0);
  h = fmix32((h ^ Math.imul(d ^ 0x61c88647, 0x9e3779b1)) >>> 0);
  return h;
}

/** A uniform float in [0, 1) keyed by the words given. */
export function uniform(a: number, b = 0, c = 0, d = 0): number {
  // 53 bits from two hashes, so that the result has full double precision.
  const hi = hash32(a, b, c, d) >>> 5;
  const lo = hash32(a ^ 0x5bd1e995, b, c, d) >>> 6;
  return (hi * 67108864 + lo) / 9007199254740992;
}

/**
 * A sequential generator over one key: draw i is uniform(seed, stream, i, salt).
 * Cheap to create, so code makes one per (seed, purpose, epoch) and never shares it.
 */
export class Stream {
  private i = 0;
  constructor(readonly seed: number, readonly stream: number, readonly salt = 0) {}

  next(): number {
    return uniform(this.seed >>> 0, this.stream >>> 0, this.i++ >>> 0, this.salt >>> 0);
  }

  /** A standard normal draw (Box–Muller, one value per two uniforms). */
  normal(): number {
    const u1 = this.next() || Number.MIN_VALUE;
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** A seeded permutation of 0..n-1 (Fisher–Yates driven by one stream). */
export function permutation(n: number, seed: number, stream: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const s = new Stream(seed, stream);
  for (let i = n - 1; i > 0; i--) {
    const j = s.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Stream ids, so that no two purposes ever draw the same numbers. */
export const STREAM = {
  init: 1,
  shuffle: 2,
  split: 3,
  attack: 4,
} as const;
