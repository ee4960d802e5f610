import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Mailbox, type MailboxEntry } from '../src/mailbox.ts';

function drain(box: Mailbox<number, string, string>): number[] {
  const out: number[] = [];
  const entry: MailboxEntry<number, string, string> = { message: 0, sender: undefined, reply: undefined };
  while (box.shift(entry)) out.push(entry.message);
  return out;
}

test('a mailbox keeps FIFO order across growth and wrap-around', () => {
  const box = new Mailbox<number, string, string>(100);
  let next = 0;
  const expected: number[] = [];
  const entry: MailboxEntry<number, string, string> = { message: 0, sender: undefined, reply: undefined };
  // Interleave pushes and shifts so the ring wraps while it grows from 16 slots to 128.
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 5 + round; i++) {
      if (box.isFull) break;
      box.push(next, `s${next}`, undefined);
      expected.push(next++);
    }
    for (let i = 0; i < 3 && box.shift(entry); i++) assert.equal(entry.message, expected.shift());
  }
  assert.deepEqual(drain(box), expected);
});

test('a mailbox is bounded: push past capacity is refused, system messages may exceed it', () => {
  const box = new Mailbox<number, string, string>(3);
  box.push(1, undefined, undefined);
  box.push(2, undefined, undefined);
  box.push(3, undefined, 'reply');
  assert.equal(box.isFull, true);
  assert.throws(() => box.push(4, undefined, undefined), RangeError);
  box.pushOverCapacity(5, undefined, undefined);
  assert.equal(box.size, 4);
  assert.deepEqual(drain(box), [1, 2, 3, 5]);
  assert.throws(() => new Mailbox(0), RangeError);
});
