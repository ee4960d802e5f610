/**
 * Random sources: a seeded PRNG (core's xoshiro128**) for the testkit and tests, so jittered backoff is reproducible;
 * the real system uses `Math.random` unless a source is injected.
 */
import { seededFloats } from '@flotilla/core';

/** A seeded PRNG (core's xoshiro128**) so that a failure replays from its seed. */
export const seededRandom: (seed: number) => () => number = seededFloats;
