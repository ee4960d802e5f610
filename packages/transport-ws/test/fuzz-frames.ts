/**
 * Generators for the fuzz test: raw WebSocket client frames (masked by hand) carrying valid, random, truncated,
 * oversized and wrongly shaped peer-link frames, each labelled with the error kind the server must count.
 */
import { seededFloats } from '@flotilla/core';
import { encodeSnapAbort, encodeSnapChunk, encodeSnapEnd } from '../src/frame-encode.ts';
import type { FrameErrorKind } from '../src/frame-format.ts';

export type Expect = FrameErrorKind | 'valid';

export interface FuzzFrame {
  readonly bytes: Buffer;
  readonly expect: Expect;
  /** Records a valid frame delivers. */
  readonly records: number;
}

/** A seeded PRNG (core's xoshiro128**) so that a failure replays from its seed. */
export const prng: (seed: number) => () => number = seededFloats;

interface WsFrameOptions {
  readonly opcode?: number;
  readonly fin?: boolean;
  readonly rsv?: number;
  readonly masked?: boolean;
  /** Length written in the header when it should differ from the bytes sent (oversize claims). */
  readonly declaredLength?: number;
}

/** One client-to-server WebSocket frame (RFC 6455 §5.2), masked with a random key unless told not to. */
export function wsFrame(payload: Buffer, o: WsFrameOptions = {}): Buffer {
  const length = o.declaredLength ?? payload.length;
  const masked = o.masked ?? true;
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + extra + (masked ? 4 : 0));
  header[0] = ((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | (o.opcode ?? 2);
  header[1] = (masked ? 0x80 : 0) | (extra === 0 ? length : extra === 2 ? 126 : 127);
  if (extra === 2) header.writeUInt16BE(length, 2);
  if (extra === 8) {
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  if (!masked) return Buffer.concat([header, payload]);
  const key = header.subarray(2 + extra);
  for (let i = 0; i < 4; i++) key[i] = (Math.random() * 256) | 0;
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([header, body]);
}

const GROUPS = ['meta', 'jobs', 'users:0', 'users:31', 'shared:0', 'grüppe:ü', '分片:7'];

export class FuzzFrames {
  /** Highest snapshot transfer id begun on the current connection (ids must increase). */
  private lastBegun = 0;

  constructor(private readonly rand: () => number) {}

  private int(max: number): number {
    return Math.floor(this.rand() * max);
  }

  private bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** A valid data frame: 1–5 records of random groups with payloads that look like message tuples. */
  dataFrame(): { frame: Buffer; boundaries: Set<number>; records: number } {
    const records = 1 + this.int(5);
    const parts: Buffer[] = [Buffer.from([1, 1])];
    const boundaries = new Set<number>([2]);
    let offset = 2;
    for (let r = 0; r < records; r++) {
      const group = Buffer.from(GROUPS[this.int(GROUPS.length)]!, 'utf8');
      const payload = this.bytes(1 + this.int(200));
      payload[0] = 0x94 + this.int(12);
      const head = Buffer.alloc(5 + group.length);
      head[0] = group.length;
      group.copy(head, 1);
      head.writeUInt32LE(payload.length, 1 + group.length);
      parts.push(head, payload);
      offset += head.length + payload.length;
      boundaries.add(offset);
    }
    return { frame: Buffer.concat(parts), boundaries, records };
  }

  valid(): FuzzFrame {
    const { frame, records } = this.dataFrame();
    if (this.rand() < 0.2 && frame.length > 4) {
      const cut = 1 + this.int(frame.length - 1);
      const bytes = Buffer.concat([
        wsFrame(frame.subarray(0, cut), { fin: false }),
        wsFrame(frame.subarray(cut), { opcode: 0 }),
      ]);
      return { bytes, expect: 'valid', records };
    }
    return { bytes: wsFrame(frame), expect: 'valid', records };
  }

  /** A frame the transport must refuse, labelled with the kind it must count. */
  invalid(): FuzzFrame {
    const [payload, expect, opcode] = this.invalidPayload();
    return { bytes: wsFrame(payload, { opcode }), expect, records: 0 };
  }

  private invalidPayload(): [Buffer, FrameErrorKind, number] {
    const choice = this.int(12);
    switch (choice) {
      case 0: {
        const random = this.bytes(this.int(300));
        if (random.length > 0 && random[0] === 1) random[0] = 2 + this.int(254);
        return [random, random.length < 2 ? 'truncated' : 'malformed', 2];
      }
      case 1: {
        const { frame, boundaries } = this.dataFrame();
        const cuts = [];
        for (let c = 3; c < frame.length; c++) if (!boundaries.has(c)) cuts.push(c);
        return [frame.subarray(0, cuts[this.int(cuts.length)]), 'truncated', 2];
      }
      case 2: {
        const { frame } = this.dataFrame();
        frame[0] = [0, 2, 3, 255][this.int(4)]!;
        return [frame, 'malformed', 2];
      }
      case 3: {
        const { frame } = this.dataFrame();
        frame[1] = [0, 6, 7, 8, 9, 100, 255][this.int(7)]!;
        return [frame, 'malformed', 2];
      }
      case 4:
        return [Buffer.from([1, 1]), 'malformed', 2];
      case 5:
        return [Buffer.from([1, 1, 0, [0, 3, 9, 255][this.int(4)]!, 1, 0, 0, 0, 0x94]), 'invalidGroup', 2];
      case 6: {
        const bad = [[0xff], [0xc0, 0x80], [0x80], [0xed, 0xa0, 0x80]][this.int(4)]!;
        return [Buffer.from([1, 1, bad.length, ...bad, 1, 0, 0, 0, 0x94]), 'invalidGroup', 2];
      }
      case 7:
        return [Buffer.from([1, 1, 1, 0x67, 0, 0, 0, 0]), 'invalidPayload', 2];
      case 8: {
        let first = this.int(256);
        while ((first >= 0x94 && first <= 0x9f) || first === 0xdc || first === 0xdd) first = this.int(256);
        return [Buffer.from([1, 1, 1, 0x67, 2, 0, 0, 0, first, 0]), 'invalidPayload', 2];
      }
      case 9: {
        const id = this.lastBegun + 1 + this.int(1000);
        const frames = [encodeSnapChunk(id, 0, Uint8Array.of(1)), encodeSnapEnd(id, 0), encodeSnapAbort(id)];
        return [frames[this.int(3)]!, 'snapshotProtocol', 2];
      }
      case 10: {
        this.lastBegun += 1 + this.int(10);
        // Never snapshot metadata: a stray 0xc1, a tuple of numbers, a fixint followed by noise.
        const noise = Buffer.concat([Buffer.from([0x05]), this.bytes(this.int(20))]);
        const meta = [Buffer.from([0xc1]), Buffer.from([0x93, 1, 2, 3]), noise][this.int(3)]!;
        const frame = Buffer.alloc(2 + 4 + 1 + 1 + 4 + meta.length);
        frame.set([1, 2]);
        frame.writeUInt32LE(this.lastBegun, 2);
        frame.set([1, 0x67], 6);
        frame.writeUInt32LE(meta.length, 8);
        meta.copy(frame, 12);
        return [frame, 'invalidPayload', 2];
      }
      default:
        return [this.bytes(this.int(50)), 'textFrame', 1];
    }
  }

  /** A WebSocket-level violation: ws refuses it and closes the connection at once. */
  wsViolation(): FuzzFrame {
    const choice = this.int(12);
    const empty = Buffer.alloc(0);
    const frame = (bytes: Buffer, expect: FrameErrorKind): FuzzFrame => ({ bytes, expect, records: 0 });
    switch (choice) {
      case 0:
        return frame(wsFrame(empty, { declaredLength: 65_537 + this.int(1e9) }), 'oversized');
      case 1:
        return frame(wsFrame(this.bytes(65_537 + this.int(1000))), 'oversized');
      case 2:
        return frame(
          Buffer.concat([
            wsFrame(this.bytes(40_000), { fin: false }),
            wsFrame(this.bytes(30_000), { opcode: 0 }),
          ]),
          'oversized',
        );
      case 3:
        return frame(wsFrame(empty, { declaredLength: 2 ** 60 }), 'oversized');
      case 4:
        return frame(
          wsFrame(this.bytes(10), { opcode: [3, 4, 5, 6, 7, 11, 12, 13, 14, 15][this.int(10)]! }),
          'wsProtocol',
        );
      case 5:
        return frame(wsFrame(this.bytes(10), { rsv: 1 + this.int(7) }), 'wsProtocol');
      case 6:
        return frame(wsFrame(this.dataFrame().frame, { masked: false }), 'wsProtocol');
      case 7:
        return frame(wsFrame(this.bytes(126 + this.int(100)), { opcode: 9 }), 'wsProtocol');
      case 8:
        return frame(wsFrame(this.bytes(4), { opcode: 9, fin: false }), 'wsProtocol');
      case 9:
        return frame(wsFrame(this.bytes(10), { opcode: 0 }), 'wsProtocol');
      case 10: {
        const code = Buffer.alloc(2);
        code.writeUInt16BE([0, 999, 1004, 1005, 1006, 1016, 2000, 5000][this.int(8)]!);
        return frame(wsFrame(code, { opcode: 8 }), 'wsProtocol');
      }
      default:
        return frame(wsFrame(this.bytes(1), { opcode: 8 }), 'wsProtocol');
    }
  }

  /**
   * Everything one connection sends: `budget` is the server's `frameErrorsPerConnectionMax`. It ends with the
   * refusal that reaches the budget, a WebSocket violation, or a normal close, each closing the connection.
   */
  connection(budget: number): FuzzFrame[] {
    this.lastBegun = 0;
    const ending = this.rand();
    const refusals = ending < 0.5 ? budget : this.int(budget);
    const frames: FuzzFrame[] = [];
    for (let i = 0; i < refusals; i++) {
      if (this.rand() < 0.15) frames.push(this.valid());
      frames.push(this.invalid());
    }
    if (ending >= 0.5 && ending < 0.85) frames.push(this.wsViolation());
    else if (ending >= 0.85) {
      const close = Buffer.alloc(2);
      close.writeUInt16BE(1000);
      frames.push({ bytes: wsFrame(close, { opcode: 8 }), expect: 'valid', records: 0 });
    }
    return frames;
  }
}
