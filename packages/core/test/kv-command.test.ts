import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidMessageError } from '@flotilla/core';
import { Packr } from 'msgpackr';
import { decodeKvCommand, encodeKvCommand, type KvCommand, MemoryKvStateMachine } from '../sim/kv-machine.ts';

const packr = new Packr({ useRecords: false });

test('kv commands round-trip as compact tuples', () => {
  const commands: KvCommand[] = [
    { op: 'put', key: 'k', value: 'v' },
    { op: 'delete', key: 'k' },
    { op: 'cas', key: 'k', expected: null, value: 'v' },
    { op: 'cas', key: 'k', expected: 'a', value: 'b' },
  ];
  for (const cmd of commands) {
    assert.deepEqual(decodeKvCommand(encodeKvCommand(cmd, { clientId: 'c', sequence: 7 })), {
      clientId: 'c',
      sequence: 7,
      command: cmd,
    });
  }
  assert.deepEqual(decodeKvCommand(encodeKvCommand(commands[0]!)).clientId, '', 'no session');
});

test('malformed kv commands are typed errors, and the state machine answers bad-command without changing state', () => {
  for (const bad of [
    [9, 'k'],
    [0, 'k'],
    [0, 1, 'v'],
    [2, 'k', 'v', 5],
    { op: 'put', key: 'k', value: 'v' },
    'put',
  ]) {
    assert.throws(() => decodeKvCommand(packr.pack(bad)), InvalidMessageError, JSON.stringify(bad));
  }
  assert.throws(() => decodeKvCommand(Uint8Array.from([0xc1])), InvalidMessageError);
  const sm = new MemoryKvStateMachine();
  const [result] = sm.apply([
    { index: 1, term: 1, data: new Uint8Array([0x93, 0xa0, 0x01, 0xc4, 0x01, 0x05]) },
  ]);
  assert.deepEqual(result, { ok: false, error: 'bad-command' });
  assert.equal(sm.size, 0);
  assert.equal(sm.appliedIndex, 1);
});
