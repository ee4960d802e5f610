/**
 * Invariant checks for the core (TigerBeetle style): a failed assertion is a programmer error, never an
 * expected outcome, and it carries a message precise enough to debug from a simulator seed.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'function' ? message() : message);
  }
}
