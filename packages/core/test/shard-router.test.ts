import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidConfigError, parseShardGroupId, ShardRouter, stableHash32 } from '@flotilla/core';

test('the hash is stable (fixed vectors) so every process routes a key to the same shard', () => {
  // FNV-1a 32-bit reference values.
  assert.equal(stableHash32(''), 0x811c9dc5);
  assert.equal(stableHash32('a'), 0xe40c292c);
  assert.equal(stableHash32('foobar'), 0xbf9cf968);
  // Non-ASCII keys hash their UTF-8 bytes, exactly as a byte-wise FNV-1a would.
  for (const key of ['é', 'ключ', '🚀 rocket']) {
    let h = 0x811c9dc5;
    for (const b of Buffer.from(key, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
    assert.equal(stableHash32(key), h >>> 0, key);
  }
});

test('keys spread over every shard roughly evenly', () => {
  const router = new ShardRouter('user', 32);
  const counts = new Array(32).fill(0);
  for (let i = 0; i < 32_000; i++) counts[router.shardOf(`user-${i}`)]++;
  for (const c of counts) assert.ok(c > 700 && c < 1300, `shard count ${c} far from 1000`);
  assert.equal(router.groupOf('alice'), `user:${router.shardOf('alice')}`);
  assert.equal(router.groups().length, 32);
});

test('group ids parse back and bad router settings are typed errors', () => {
  assert.deepEqual(parseShardGroupId('user:7'), { prefix: 'user', index: 7 });
  assert.deepEqual(parseShardGroupId('meta:system'), undefined);
  assert.deepEqual(parseShardGroupId('user:07'), undefined);
  assert.throws(() => new ShardRouter('user', 0), InvalidConfigError);
});
