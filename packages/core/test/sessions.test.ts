/**
 * Client sessions for exactly-once apply (thesis §6.3): a retried command returns the stored result instead
 * of applying twice, older sequences are refused, the session table is LRU-bounded, and sessions travel in
 * the KV state machine's snapshots.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidMessageError } from '@flotilla/core';
import { encodeKvCommand, type KvCommand, type KvResult, MemoryKvStateMachine } from '../sim/kv-machine.ts';
import { ClientSessions, decodeSessionCommand, encodeSessionCommand } from '../sim/sessions.ts';
import { Cluster } from './harness.ts';

const confState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

function cmd(index: number, c: KvCommand, clientId = 'c', sequence = 0) {
  return { index, term: 1, data: encodeKvCommand(c, { clientId, sequence }) };
}

test('ClientSessions: new, duplicate with the stored result, stale; no session without a client id', () => {
  const s = new ClientSessions<string>(1_000, 2);
  assert.deepEqual(s.check('a', 1), { kind: 'new' });
  s.record('a', 1, 'r1', 10);
  assert.deepEqual(s.check('a', 1), { kind: 'duplicate', result: 'r1' });
  assert.deepEqual(s.check('a', 2), { kind: 'new' });
  s.record('a', 2, 'r2', 11);
  assert.deepEqual(s.check('a', 1), { kind: 'duplicate', result: 'r1' }, 'still inside the window of 2');
  s.record('a', 3, 'r3', 12);
  assert.deepEqual(s.check('a', 1), { kind: 'stale' }, 'pushed out of the window: its result is gone');
  assert.deepEqual(s.check('a', 2), { kind: 'duplicate', result: 'r2' });
  // Commands of one client in flight may apply out of order: a lower, unseen sequence is still new.
  s.record('a', 5, 'r5', 13);
  assert.deepEqual(s.check('a', 4), { kind: 'new' });
  s.record('', 1, 'x', 14);
  assert.deepEqual(s.check('', 1), { kind: 'new' }, 'the empty client id has no session');
  assert.equal(s.size, 1);
});

test('ClientSessions: bounded by sessionsMax, evicting the least recently recorded client', () => {
  const s = new ClientSessions<string>(2);
  s.record('a', 1, 'ra', 1);
  s.record('b', 1, 'rb', 2);
  s.record('a', 2, 'ra2', 3); // a is now the most recent
  s.record('c', 1, 'rc', 4); // evicts b
  assert.equal(s.size, 2);
  assert.deepEqual(s.check('b', 1), { kind: 'new' }, 'an evicted session is forgotten');
  assert.deepEqual(s.check('a', 2), { kind: 'duplicate', result: 'ra2' });
  assert.deepEqual(s.check('c', 1), { kind: 'duplicate', result: 'rc' });
});

test('KV state machine: a retried command returns the first result and does not apply twice', () => {
  const sm = new MemoryKvStateMachine();
  const [put] = sm.apply([cmd(1, { op: 'put', key: 'k', value: '1' }, 'c', 1)]);
  assert.deepEqual(put, { ok: true, previous: null, index: 1 });
  const cas: KvCommand = { op: 'cas', key: 'k', expected: '1', value: '2' };
  const [first] = sm.apply([cmd(2, cas, 'c', 2)]);
  assert.deepEqual(first, { ok: true, previous: '1', index: 2 });
  // Applied again, the CAS would fail (the value is 2 now); the retry gets the original answer instead.
  const [retry] = sm.apply([cmd(3, cas, 'c', 2)]);
  assert.deepEqual(retry, first);
  assert.equal(sm.get('k'), '2');
  assert.equal(sm.writtenAt('k'), 2, 'the retry wrote nothing');
  const [late] = sm.apply([cmd(4, { op: 'put', key: 'k', value: 'old' }, 'c', 1)]);
  assert.deepEqual(late, put, 'an older retry inside the window gets its own first result');
  assert.equal(sm.get('k'), '2');
  assert.equal(sm.appliedIndex, 4, 'every command moves the applied index, duplicates included');
  // Without a session the same command applies every time.
  sm.apply([cmd(5, { op: 'put', key: 'n', value: 'x' }, '', 0)]);
  sm.apply([cmd(6, { op: 'put', key: 'n', value: 'x' }, '', 0)]);
  assert.equal(sm.writtenAt('n'), 6);
});

test('KV state machine: a retry older than the session window is refused as stale, not applied', () => {
  const sm = new MemoryKvStateMachine({ sessionWindowMax: 2 });
  for (let seq = 1; seq <= 3; seq++)
    sm.apply([cmd(seq, { op: 'put', key: 'k', value: String(seq) }, 'c', seq)]);
  const [stale] = sm.apply([cmd(4, { op: 'put', key: 'k', value: 'old' }, 'c', 1)]);
  assert.deepEqual(stale, { ok: false, error: 'stale-session' });
  assert.equal(sm.get('k'), '3');
});

test('KV state machine: sessions are LRU-bounded by sessionsMax', () => {
  const sm = new MemoryKvStateMachine({ sessionsMax: 2 });
  sm.apply([
    cmd(1, { op: 'put', key: 'a', value: '1' }, 'a', 1),
    cmd(2, { op: 'put', key: 'b', value: '1' }, 'b', 1),
    cmd(3, { op: 'put', key: 'c', value: '1' }, 'c', 1),
  ]);
  const [again] = sm.apply([cmd(4, { op: 'put', key: 'a', value: '1' }, 'a', 1)]);
  assert.deepEqual(again, { ok: true, previous: '1', index: 4 }, 'a was evicted, so its retry applies anew');
});

test('KV state machine: snapshot and restore carry data, applied index and sessions', () => {
  const a = new MemoryKvStateMachine();
  const cas: KvCommand = { op: 'cas', key: 'k', expected: null, value: 'v' };
  const [result] = a.apply([
    cmd(1, cas, 'client', 7),
    cmd(2, { op: 'put', key: 'x', value: 'y' }, 'other', 1),
  ]);
  const image = a.snapshot();
  const b = new MemoryKvStateMachine();
  b.restore(image, { index: 2, term: 1, confState });
  assert.equal(b.appliedIndex, 2);
  assert.equal(b.get('k'), 'v');
  assert.equal(b.get('x'), 'y');
  assert.equal(b.size, 2);
  const [retry] = b.apply([cmd(3, cas, 'client', 7)]);
  assert.deepEqual(retry, result, 'the retry after a restore still gets the original result');
  assert.equal(b.writtenAt('k'), 1);
  assert.throws(
    () => new MemoryKvStateMachine().restore(image, { index: 9, term: 1, confState }),
    /does not match/,
  );
});

test('through Raft: a command committed twice (a client retry) is applied once on every replica', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  const session = { clientId: 'client-1', sequence: 1 };
  c.raft(1).propose(encodeKvCommand({ op: 'cas', key: 'k', expected: null, value: 'v' }, session));
  c.stabilize();
  c.put(1, 'k', 'changed', { clientId: 'client-2', sequence: 1 });
  c.raft(2).propose(encodeKvCommand({ op: 'cas', key: 'k', expected: null, value: 'v' }, session)); // retry via a follower
  c.stabilize();
  for (const id of [1, 2, 3]) {
    const results = [...c.node(id).results.entries()];
    assert.equal(results.length, 3, `node ${id} applied three commands`);
    const [firstIndex, first] = results[0]!;
    const [, retry] = results[2]!;
    assert.deepEqual(retry, first as KvResult, 'the retry returns the first result');
    assert.equal(c.node(id).sm.get('k'), 'changed', 'and did not apply again');
    assert.equal(firstIndex, 5);
  }
});

test('session command envelopes round-trip and reject malformed bytes', () => {
  const payload = new Uint8Array([1, 2, 3]);
  const decoded = decodeSessionCommand(encodeSessionCommand({ clientId: 'c', sequence: 42, payload }));
  assert.equal(decoded.clientId, 'c');
  assert.equal(decoded.sequence, 42);
  assert.deepEqual([...decoded.payload], [1, 2, 3]);
  for (const bad of [
    new Uint8Array([0xc1]),
    new Uint8Array([0x93, 0x01, 0x02, 0x03]),
    new Uint8Array([0x01]),
  ]) {
    assert.throws(() => decodeSessionCommand(bad), InvalidMessageError);
  }
});

test('ClientSessions: a client that skips far ahead is handled in time proportional to what it kept', () => {
  const s = new ClientSessions<string>(10, 4);
  s.record('a', 1, 'r1', 1);
  const t = performance.now();
  s.record('a', 1_000_000_000, 'rbig', 2);
  assert.ok(performance.now() - t < 50, 'no walk over a billion sequence numbers');
  assert.deepEqual(s.check('a', 1), { kind: 'stale' });
  assert.deepEqual(s.check('a', 1_000_000_000), { kind: 'duplicate', result: 'rbig' });
  assert.deepEqual(s.check('a', 999_999_999), { kind: 'new' });
});
