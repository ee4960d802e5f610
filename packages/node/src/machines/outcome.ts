/**
 * What applying one command produced: its result, or the typed error every replica recorded alike. Outcomes
 * are what sessions keep for retries and what the divergence check hashes.
 */
import { toWireError, type WireError } from '@flotilla/app';
import { Packr } from 'msgpackr';

export type Outcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: WireError };

const packr = new Packr({ useRecords: false });

export function success(value: unknown): Outcome {
  return { ok: true, value };
}

export function failure(error: unknown): Outcome {
  return { ok: false, error: toWireError(error) };
}

export function encodeOutcome(outcome: Outcome): Uint8Array {
  return packr.pack(outcome.ok ? [1, outcome.value] : [0, outcome.error]);
}

export function decodeOutcome(bytes: Uint8Array): Outcome {
  const [ok, payload] = packr.unpack(bytes) as [number, unknown];
  return ok === 1 ? { ok: true, value: payload } : { ok: false, error: payload as WireError };
}

/**
 * A running hash of applied outcomes (two FNV-1a lanes, 64 bits in all): replicas that applied the same
 * commands with the same results hold the same value. Not cryptographic; it detects accidents (a machine
 * that reads a clock, iterates a hash order, or differs between versions), not adversaries.
 */
export class OutcomeHash {
  constructor(
    private a = 0x811c9dc5,
    private b = 0x2b992ddf,
  ) {}

  /** Folds one outcome in (its encoded bytes). */
  add(bytes: Uint8Array): void {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < bytes.length; i++) {
      const x = bytes[i]!;
      a = Math.imul(a ^ x, 0x01000193) >>> 0;
      b = Math.imul(b ^ x, 0x01000193) >>> 0;
      b = (b ^ (b >>> 15)) >>> 0;
    }
    this.a = a;
    this.b = b;
  }

  get value(): string {
    return this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0');
  }

  /** [a, b] for storage. */
  get lanes(): readonly [number, number] {
    return [this.a, this.b];
  }

  static from(lanes: readonly [number, number] | undefined): OutcomeHash {
    return lanes ? new OutcomeHash(lanes[0], lanes[1]) : new OutcomeHash();
  }
}
