/**
 * Recovery cost: reopening a group reads a bounded number of keys whatever the length of its log, so a node
 * with a log of a million entries restarts as fast as one with ten.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { EMPTY_CONF_STATE } from '@flotilla/core';
import { type Env, openEnv } from '../src/env.ts';
import { openStorage } from '../src/index.ts';
import { recoverGroup } from '../src/recover.ts';
import { makeEntries, tempDir } from './helpers.ts';

const dir = tempDir('recovery');
after(() => dir.remove());

const ENTRIES = 1_000_000;
const BATCH = 10_000;

/** Wraps the log and snapshot databases so that every key or value a range read yields is counted. */
function counting(env: Env): { env: Env; yielded: () => number } {
  let yielded = 0;
  const wrap = <T extends object>(db: T): T =>
    new Proxy(db, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop !== 'getKeys' && prop !== 'getRange') return value;
        return (...args: unknown[]) => {
          const iterable = (value as (...a: unknown[]) => Iterable<unknown>).apply(target, args);
          return (function* () {
            for (const item of iterable) {
              yielded++;
              yield item;
            }
          })();
        };
      },
    });
  return { env: { ...env, log: wrap(env.log), snap: wrap(env.snap) }, yielded: () => yielded };
}

it(`recovers a group with ${ENTRIES} entries from a bounded number of key reads`, {
  timeout: 60_000,
}, async () => {
  const storage = await openStorage({ path: dir.path, nodeId: 1 });
  const g = storage.group('long');
  for (let from = 1; from <= ENTRIES; from += BATCH)
    await g.append(makeEntries('long', from, from + BATCH - 1, 1));
  await g.saveSnapshot({ index: 1000, term: 1, confState: EMPTY_CONF_STATE }, new Uint8Array(10));
  await g.compact(1000);
  await storage.group('short').append(makeEntries('short', 1, 10, 1));
  await storage.collected();
  await storage.close();

  const env = await openEnv(dir.path, 1);
  try {
    for (const [group, last] of [
      ['long', ENTRIES],
      ['short', 10],
    ] as const) {
      const probe = counting(env);
      const recovered = recoverGroup(probe.env, group);
      assert.equal(recovered.lastIndex, last);
      assert.ok(probe.yielded() >= 1 && probe.yielded() <= 3, `${group}: ${probe.yielded()} keys read`);
    }
    assert.equal(recoverGroup(env, 'long').record.markerIndex, 1000);
  } finally {
    await env.root.close();
  }
});
