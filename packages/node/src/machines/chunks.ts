/**
 * Snapshot images made of chunks: `[length u32 LE][bytes]` repeated. A machine writes its state as many
 * chunks and reads them back one at a time, so neither side holds a second copy of a large state as one
 * object graph; the transport streams the image in its own chunks.
 */
import { ProtocolError } from '@flotilla/app';

export function joinChunks(chunks: Iterable<Uint8Array>): Uint8Array {
  const list = [...chunks];
  const total = list.reduce((n, c) => n + 4 + c.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const c of list) {
    view.setUint32(at, c.length, true);
    out.set(c, at + 4);
    at += 4 + c.length;
  }
  return out;
}

export function* splitChunks(image: Uint8Array): Generator<Uint8Array> {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  let at = 0;
  while (at < image.length) {
    if (at + 4 > image.length) throw new ProtocolError('snapshot image cut inside a chunk header');
    const length = view.getUint32(at, true);
    if (at + 4 + length > image.length) throw new ProtocolError('snapshot image cut inside a chunk');
    yield image.subarray(at + 4, at + 4 + length);
    at += 4 + length;
  }
}
