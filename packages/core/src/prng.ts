/**
 * A seeded pseudo-random generator (SplitMix32 seeding into xoshiro128**), the core's only source of
 * randomness: the same seed replays the same elections, which is what makes the simulator reproducible.
 */
export interface Random {
  /** A uniformly distributed integer in `[0, bound)`; `bound` must be a positive integer ≤ 2^32. */
  int(bound: number): number;
  /** A float in `[0, 1)`. */
  float(): number;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Xoshiro128 implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    const next = splitmix32(seed);
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() || 1; // the all-zero state is a fixed point
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  int(bound: number): number {
    return Math.floor(this.float() * bound);
  }

  float(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A seeded source of floats in [0, 1), for code that wants a plain function (tests, jitter, fuzzers). */
export function seededFloats(seed: number): () => number {
  const random = new Xoshiro128(seed);
  return () => random.float();
}
