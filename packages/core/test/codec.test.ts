import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeConfChange,
  decodeEntry,
  decodeMessage,
  EntryKind,
  encodeConfChange,
  encodeEntry,
  encodeMessage,
  InvalidMessageError,
  type Message,
} from '@flotilla/core';
import fc from 'fast-check';

const bytes = (n: number) => new Uint8Array(n).map((_, i) => i & 0xff);
const entry = (index: number) => ({ term: 3, index, kind: EntryKind.Normal, data: bytes(index % 7) });
const meta = {
  index: 9,
  term: 2,
  confState: { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false },
};

const samples: Message[] = [
  { type: 'append', from: 1, to: 2, term: 3, index: 4, logTerm: 2, commit: 4, entries: [entry(5), entry(6)] },
  { type: 'appendResponse', from: 2, to: 1, term: 3, index: 4, reject: true, hintIndex: 3, hintTerm: 2 },
  { type: 'vote', from: 1, to: 2, term: 3, index: 4, logTerm: 2, transfer: false },
  { type: 'preVote', from: 1, to: 2, term: 4, index: 4, logTerm: 2, transfer: true },
  { type: 'voteResponse', from: 2, to: 1, term: 3, reject: false },
  { type: 'preVoteResponse', from: 2, to: 1, term: 3, reject: true },
  { type: 'heartbeat', from: 1, to: 2, term: 3, commit: 7, readRound: 2, quiesce: true },
  { type: 'heartbeatResponse', from: 2, to: 1, term: 3, readRound: 2 },
  { type: 'snapshot', from: 1, to: 2, term: 3, snapshot: { meta, data: bytes(40) } },
  { type: 'timeoutNow', from: 1, to: 2, term: 3 },
  { type: 'propose', from: 2, to: 1, term: 0, entries: [entry(0)] },
  { type: 'readIndex', from: 2, to: 1, term: 0, context: bytes(8) },
  { type: 'readIndexResponse', from: 1, to: 2, term: 3, index: 8, context: bytes(8), reject: false },
  { type: 'transferLeader', from: 2, to: 1, term: 0, target: 3 },
];

test('every message variant round-trips through the codec', () => {
  for (const m of samples) {
    const decoded = decodeMessage(encodeMessage(m));
    assert.deepEqual(normalize(decoded), normalize(m), m.type);
  }
});

test('entries and conf changes round-trip', () => {
  const e = entry(12);
  assert.deepEqual(normalize(decodeEntry(encodeEntry(e))), normalize(e));
  const cc = {
    changes: [
      { op: 'addVoter', nodeId: 4 },
      { op: 'removeNode', nodeId: 1 },
    ],
    transition: 'joint-explicit',
    context: bytes(3),
  } as const;
  assert.deepEqual(normalize(decodeConfChange(encodeConfChange(cc))), normalize(cc));
});

test('garbage never decodes to a message: it throws InvalidMessageError', () => {
  for (const raw of [[0xc1], [], [0x93, 1], [0x94, 0x63, 1, 2, 3], [0x90], [0xa3, 0x61, 0x62, 0x63]]) {
    assert.throws(() => decodeMessage(Uint8Array.from(raw)), InvalidMessageError, `bytes ${raw}`);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
      try {
        const m = decodeMessage(raw);
        // Whatever decodes must be a well-formed message that re-encodes identically.
        assert.deepEqual(normalize(decodeMessage(encodeMessage(m))), normalize(m));
      } catch (error) {
        assert.ok(error instanceof InvalidMessageError, String(error));
      }
    }),
    { numRuns: 20_000 },
  );
});

test('a truncated message is rejected at every cut point', () => {
  for (const m of samples) {
    const full = encodeMessage(m);
    for (let cut = 0; cut < full.length; cut++) {
      assert.throws(
        () => decodeMessage(full.subarray(0, cut)),
        InvalidMessageError,
        `${m.type} cut at ${cut}`,
      );
    }
  }
});

/** Buffers decode as Buffer subclasses; compare their bytes. */
function normalize(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v) =>
      v instanceof Uint8Array || v?.type === 'Buffer' ? Array.from(v.data ?? v) : v,
    ),
  );
}
