/**
 * Table tests of the frame format: what the encoders produce decodes back, and every malformed shape is
 * refused with the error kind (and so the close code) a peer would see.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeSnapshotMeta } from '@flotilla/core';
import { FrameError } from '../src/errors.ts';
import { newDataRecords, parseDataFrame, parseSnapshotFrame, readFrameKind } from '../src/frame-decode.ts';
import {
  channelHeader,
  encodeDataFrame,
  encodeSnapBegin,
  encodeSnapChunk,
  encodeSnapCredit,
  encodeSnapEnd,
  encodeSnapFail,
  groupHeader,
} from '../src/frame-encode.ts';
import {
  FRAME_CLOSE_CODES,
  type FrameErrorKind,
  INBOUND_REPLY_KINDS,
  OUTBOUND_KINDS,
} from '../src/frame-format.ts';
import { FramePool } from '../src/frame-pool.ts';
import { SendQueue } from '../src/send-queue.ts';
import { SNAPSHOT_META, sequenced } from './helpers.ts';

function dataFrame(records: [string, Uint8Array][]): Buffer {
  const headers = records.map(([g]) => groupHeader(g));
  const payloads = records.map(([, p]) => p);
  const bytes = records.reduce((n, [g, p]) => n + Buffer.byteLength(g) + 5 + p.length, 0);
  return encodeDataFrame(headers, payloads, 0, records.length, bytes);
}

function refusal(fn: () => unknown): FrameErrorKind {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FrameError, `expected FrameError, got ${String(error)}`);
    return error.kind;
  }
  assert.fail('expected the frame to be refused');
}

const parseData = (frame: Buffer) => {
  readFrameKind(frame, OUTBOUND_KINDS);
  const out = newDataRecords();
  parseDataFrame(frame, out);
  return out;
};

test('a data frame carries many groups and hands back exact payload slices without decoding them', () => {
  const records: [string, Uint8Array][] = [
    ['meta', sequenced(1, 2, 1)],
    ['users:7', sequenced(1, 2, 2)],
    ['grüppe:ü', sequenced(1, 2, 3)],
    ['meta', sequenced(1, 2, 4)],
  ];
  const frame = dataFrame(records);
  const out = parseData(frame);
  assert.equal(out.count, 4);
  records.forEach(([group, payload], i) => {
    assert.equal(out.groups[i], group);
    assert.deepEqual(frame.subarray(out.starts[i], out.ends[i]), Buffer.from(payload));
  });
});

test('node-channel records share data frames with group records; their payloads are not shape-checked', () => {
  const headers = [groupHeader('meta'), channelHeader('rpc'), channelHeader('actors'), groupHeader('jobs')];
  const payloads = [sequenced(1, 2, 1), Uint8Array.of(0xc1), Uint8Array.of(1, 2, 3), sequenced(1, 2, 2)];
  const bytes = headers.reduce((n, h, i) => n + h.length + 4 + payloads[i]!.length, 0);
  const frame = encodeDataFrame(headers, payloads, 0, 4, bytes);
  const out = parseData(frame);
  assert.equal(out.count, 4);
  assert.deepEqual(out.groups.slice(0, 4), ['meta', '', '', 'jobs']);
  assert.deepEqual(out.channels.slice(0, 4), [undefined, 'rpc', 'actors', undefined]);
  payloads.forEach((payload, i) => {
    assert.deepEqual(frame.subarray(out.starts[i], out.ends[i]), Buffer.from(payload));
  });
});

test('the send queue splits a turn into frames of at most frameBytesMax and keeps order', () => {
  const queue = new SendQueue();
  for (let i = 0; i < 100; i++) queue.push(groupHeader(`g${i % 3}`), sequenced(1, 2, i));
  const frames: Buffer[] = [];
  let messages = 0;
  queue.drain(200, (frame, count) => {
    frames.push(frame);
    messages += count;
  });
  assert.equal(messages, 100);
  assert.ok(frames.length > 1);
  assert.ok(frames.every((f) => f.length <= 200));
  const groups = frames.flatMap((f) => parseData(f).groups.slice(0, parseData(f).count));
  assert.deepEqual(
    groups,
    Array.from({ length: 100 }, (_, i) => `g${i % 3}`),
  );
  assert.equal(queue.length, 0);
  assert.equal(queue.bytes, 0);
});

const valid = dataFrame([['meta', sequenced(1, 2, 1)]]);
const withByte = (frame: Buffer, index: number, value: number): Buffer => {
  const copy = Buffer.from(frame);
  copy[index] = value;
  return copy;
};

const badFrames: [string, Buffer, FrameErrorKind][] = [
  ['empty frame', Buffer.alloc(0), 'truncated'],
  ['one byte', Buffer.from([1]), 'truncated'],
  ['version 2', withByte(valid, 0, 2), 'malformed'],
  ['kind 0', withByte(valid, 1, 0), 'malformed'],
  ['kind 200', withByte(valid, 1, 200), 'malformed'],
  ['a reply kind on the sending direction', encodeSnapCredit(1, 0), 'malformed'],
  ['data without records', Buffer.from([1, 1]), 'malformed'],
  ['cut inside a payload', valid.subarray(0, valid.length - 1), 'truncated'],
  ['cut inside a record header', valid.subarray(0, 5), 'truncated'],
  ['trailing byte', Buffer.concat([valid, Buffer.from([4])]), 'truncated'],
  ['node channel 0', Buffer.from([1, 1, 0, 0, 1, 0, 0, 0, 0x94]), 'invalidGroup'],
  ['unknown node channel 9', Buffer.from([1, 1, 0, 9, 1, 0, 0, 0, 0x94]), 'invalidGroup'],
  ['channel record cut in its header', Buffer.from([1, 1, 0, 1, 1, 0]), 'truncated'],
  ['empty channel payload', Buffer.from([1, 1, 0, 1, 0, 0, 0, 0]), 'invalidPayload'],
  ['non-UTF-8 group id', Buffer.from([1, 1, 2, 0xff, 0xfe, 1, 0, 0, 0, 0x94]), 'invalidGroup'],
  ['empty payload', Buffer.from([1, 1, 1, 0x67, 0, 0, 0, 0]), 'invalidPayload'],
  ['payload that is not a message tuple', Buffer.from([1, 1, 1, 0x67, 1, 0, 0, 0, 0xc1]), 'invalidPayload'],
  ['payload length past the end', Buffer.from([1, 1, 1, 0x67, 0xff, 0xff, 0xff, 0xff, 0x94]), 'truncated'],
];

for (const [name, frame, kind] of badFrames) {
  test(`refused: ${name} → ${kind} (close ${FRAME_CLOSE_CODES[kind]})`, () => {
    assert.equal(
      refusal(() => parseData(frame)),
      kind,
    );
  });
}

test('snapshot frames round-trip and refuse wrong lengths and directions', () => {
  const meta = encodeSnapshotMeta(SNAPSHOT_META);
  const begin = encodeSnapBegin(5, 'users:3', meta);
  const parsedBegin = parseSnapshotFrame(begin, readFrameKind(begin, OUTBOUND_KINDS));
  assert.deepEqual(parsedBegin, { type: 'begin', transferId: 5, group: 'users:3', meta: Buffer.from(meta) });
  const chunk = encodeSnapChunk(5, 9, Uint8Array.of(1, 2, 3));
  assert.deepEqual(parseSnapshotFrame(chunk, readFrameKind(chunk, OUTBOUND_KINDS)), {
    type: 'chunk',
    transferId: 5,
    seq: 9,
    chunk: Buffer.from([1, 2, 3]),
  });
  const fail = encodeSnapFail(5, 'x'.repeat(5000));
  const parsedFail = parseSnapshotFrame(fail, readFrameKind(fail, INBOUND_REPLY_KINDS));
  assert.ok(parsedFail.type === 'fail' && parsedFail.reason.length > 0 && parsedFail.reason.length <= 1024);
  const end = encodeSnapEnd(5, 10);
  assert.equal(
    refusal(() => parseSnapshotFrame(end.subarray(0, end.length - 1), 4)),
    'truncated',
  );
  assert.equal(
    refusal(() => parseSnapshotFrame(Buffer.concat([end, Buffer.from([0])]), 4)),
    'malformed',
  );
  assert.equal(
    refusal(() => readFrameKind(end, INBOUND_REPLY_KINDS)),
    'malformed',
  );
  assert.equal(
    refusal(() => parseSnapshotFrame(encodeSnapBegin(1, 'g', meta).subarray(0, 9), 2)),
    'truncated',
  );
});

test('the frame pool reuses written frame buffers, never pools oversized ones, and shrinks when idle', () => {
  const pool = new FramePool(1024, 2);
  const a = pool.acquire(100);
  const b = pool.acquire(1024);
  assert.equal(a.length, 100);
  pool.release(a);
  pool.release(b);
  pool.release(pool.acquire(10));
  assert.equal(pool.freeCount, 2);
  const reused = pool.acquire(500);
  assert.ok(reused.buffer === a.buffer || reused.buffer === b.buffer, 'a released slab is reused');
  const big = pool.acquire(5000);
  pool.release(big);
  assert.equal(pool.freeCount, 1, 'an oversized buffer is not pooled');
  pool.release(reused);
  pool.trim();
  pool.trim();
  assert.equal(pool.freeCount, 1, 'an idle pool gives half back');
});
