/**
 * Small byte helpers shared by the snapshot and state-machine modules.
 * Kept apart so that neither depends on the other for something this small.
 */

/** Concatenates `parts` into one buffer of `total` bytes (the sum of their lengths). */
export function concatBytes(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
