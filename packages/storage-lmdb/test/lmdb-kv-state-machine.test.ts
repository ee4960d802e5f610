/**
 * The LMDB key-value state machine: reads see applied writes at once, writes and the applied index become
 * durable together, snapshot/restore replace the whole state, and its writes share the log's transactions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Command, EMPTY_CONF_STATE } from '@flotilla/core';
import type { KvApply, KvKey, KvView } from '../src/index.ts';
import { lmdb, useFixture } from './engines.ts';
import { makeEntries } from './helpers.ts';

const f = useFixture(lmdb, { deleteChunkEntries: 16 });
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString());

/** Commands are "set k v" or "del k"; the result is the previous value. */
function kvApply(command: Command, kv: KvView): string | undefined {
  const [op, key, value] = Buffer.from(command.data).toString().split(' ') as [string, string, string];
  const previous = text(kv.get(key));
  if (op === 'set') kv.put(key, Buffer.from(value));
  else kv.delete(key);
  return previous;
}

let nextIndex = 1;
const cmd = (s: string): Command => ({ index: nextIndex++, term: 1, data: Buffer.from(s) });

describe('KvStateMachine', () => {
  it('applies commands, reads its own writes before they are durable, and recovers after reopening', async () => {
    const sm = f.store.kvStateMachine('kv', kvApply);
    assert.equal(sm.appliedIndex, 0);
    const results = sm.apply([cmd('set a 1'), cmd('set a 2'), cmd('set b 3'), cmd('del b')]);
    assert.deepEqual(results, [undefined, '1', undefined, '3']);
    assert.equal(text(sm.get('a')), '2', 'visible while in flight');
    assert.equal(sm.get('b'), undefined);
    assert.equal(sm.appliedIndex, 4);
    await sm.flushed();
    assert.equal(sm.durableAppliedIndex, 4);
    sm.advanceAppliedIndex(6);
    nextIndex = 7;
    await sm.flushed();
    const again = (await f.reopen()).kvStateMachine('kv', kvApply);
    assert.equal(again.appliedIndex, 6);
    assert.equal(text(again.get('a')), '2');
    assert.equal(again.get('b'), undefined);
  });

  it('restores from a snapshot, replacing the whole state, and drops the old generation', async () => {
    const source = f.store.kvStateMachine('kv', kvApply);
    const image = source.snapshot();
    const target = f.store.kvStateMachine('kv-target', kvApply);
    nextIndex = 1;
    target.apply(Array.from({ length: 40 }, (_, i) => cmd(`set old${i} x`)));
    await target.flushed();
    const before = f.store.lastTransactionId();
    target.restore(image, { index: 6, term: 1, confState: EMPTY_CONF_STATE });
    assert.equal(target.appliedIndex, 6);
    assert.equal(text(target.get('a')), '2');
    assert.equal(target.get('old3'), undefined, 'old keys are gone at once');
    await target.flushed();
    await f.store.collected();
    assert.ok(f.store.lastTransactionId() - before >= 1 + 40 / 16, 'old generation deleted in chunks');
    const reopened = (await f.reopen()).kvStateMachine('kv-target', kvApply);
    assert.equal(reopened.appliedIndex, 6);
    assert.equal(text(reopened.get('a')), '2');
    assert.equal(reopened.get('old3'), undefined);
  });

  it('commits state-machine writes in the same transaction as the log writes of that turn', async () => {
    const g = f.store.group('kv-shared');
    const sm = f.store.kvStateMachine('kv-shared', kvApply);
    const before = f.store.lastTransactionId();
    nextIndex = 1;
    const append = g.append(makeEntries('kv-shared', 1, 3, 1));
    sm.apply([cmd('set x 1')]);
    await Promise.all([append, sm.flushed()]);
    assert.equal(f.store.lastTransactionId() - before, 1);
  });

  it('keeps tuple keys apart from strings and numbers, and ranges merge writes that are not durable yet', async () => {
    const b = (v: string) => Buffer.from(v);
    const keys: [KvKey, string][] = [
      [['job', 'a', 1], 'a1'],
      [['job', 'a', 2], 'a2'],
      [['job', 'b', 1], 'b1'],
      ['1', 'string one'],
      [1, 'number one'],
      [['1'], 'tuple one'],
    ];
    const writer: KvApply<void> = (command, kv) => {
      const [key, value] = JSON.parse(Buffer.from(command.data).toString()) as [KvKey, string | null];
      if (value === null) kv.delete(key);
      else kv.put(key, b(value));
    };
    const sm = f.store.kvStateMachine('kv-tuples', writer);
    nextIndex = 1;
    sm.apply(keys.map(([k, v]) => cmd(JSON.stringify([k, v]))));
    assert.equal(text(sm.get('1')), 'string one');
    assert.equal(text(sm.get(1)), 'number one');
    assert.equal(text(sm.get(['1'])), 'tuple one');
    const prefixA = () => [...sm.range({ start: ['job', 'a'], end: ['job', 'a', '\uffff'] })];
    assert.deepEqual(
      prefixA().map((e) => [e.key, text(e.value)]),
      [
        [['job', 'a', 1], 'a1'],
        [['job', 'a', 2], 'a2'],
      ],
      'in flight',
    );
    await sm.flushed();
    assert.deepEqual(
      prefixA().map((e) => text(e.value)),
      ['a1', 'a2'],
      'durable',
    );
    // Not yet durable: a delete hides a durable key, a put inserts one between two, limits count after merging.
    sm.apply([
      cmd(JSON.stringify([['job', 'a', 1], null])),
      cmd(JSON.stringify([['job', 'a', 1.5], 'a1.5'])),
    ]);
    assert.deepEqual(
      prefixA().map((e) => text(e.value)),
      ['a1.5', 'a2'],
    );
    assert.deepEqual(
      [...sm.range({ start: ['job'], end: ['job', '\uffff'], limit: 2 })].map((e) => text(e.value)),
      ['a1.5', 'a2'],
    );
    assert.deepEqual(
      [...sm.range({ start: ['job'], end: ['job', '\uffff'], reverse: true, limit: 2 })].map((e) =>
        text(e.value),
      ),
      ['b1', 'a2'],
    );
    // Inside apply, the batch's own writes are part of what a range sees.
    let seen: string[] = [];
    const scan: KvApply<void> = (_command, kv) => {
      kv.put(['job', 'a', 3], b('a3'));
      kv.delete(['job', 'a', 2]);
      seen = [...kv.range({ start: ['job', 'a'], end: ['job', 'a', '\uffff'] })].map((e) => text(e.value)!);
    };
    const scanning = f.store.kvStateMachine('kv-tuples-scan', scan);
    nextIndex = 1;
    scanning.apply([cmd('x')]);
    assert.deepEqual(seen, ['a3']);
    await sm.flushed();
    await scanning.flushed();
    const image = sm.snapshot();
    const copy = f.store.kvStateMachine('kv-tuples-copy', writer);
    copy.restore(image, { index: sm.appliedIndex, term: 1, confState: EMPTY_CONF_STATE });
    assert.deepEqual(
      [...copy.range()].map((e) => e.key),
      [...sm.range()].map((e) => e.key),
    );
  });
});
