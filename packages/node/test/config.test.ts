import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidConfigError } from '@flotilla/core';
import { configFromToml } from '@flotilla/node';

const member = (id: number) => ({ id, rpc: `127.0.0.1:${7000 + id}`, api: `127.0.0.1:${8000 + id}` });
const base = () => ({
  node: { id: 1, data_dir: '/tmp/x' },
  cluster: { members: [member(1), member(2), member(3)] },
  security: { secret: 'sixteen-chars-at-least' },
});

function rejects(doc: Record<string, unknown>, key: string): void {
  assert.throws(
    () => configFromToml(doc),
    (error: unknown) => error instanceof InvalidConfigError && error.key === key,
    `expected an error naming ${key}`,
  );
}

test('a valid cluster config resolves defaults: 32 user shards, 5 ms ticks, loopback admin', () => {
  const config = configFromToml(base());
  assert.equal(config.node.rpc, '127.0.0.1:7001');
  assert.deepEqual(config.layout.shards[0], { prefix: 'user', count: 32, kind: 'kv' });
  assert.equal(config.raft.tickMs, 5);
  assert.match(config.node.admin, /^127\.0\.0\.1:/);
  assert.equal(config.cluster?.members.length, 3);
});

test('no [cluster] section is standalone mode and needs no secret', () => {
  const config = configFromToml({ node: { id: 1, data_dir: '/tmp/x' } });
  assert.equal(config.cluster, undefined);
});

test('each invalid value is an InvalidConfigError that names its key', () => {
  rejects({ ...base(), node: { data_dir: '/tmp/x' } }, 'node.id');
  rejects({ ...base(), node: { id: 0, data_dir: '/tmp/x' } }, 'node.id');
  rejects({ ...base(), node: { id: 1 } }, 'node.data_dir');
  rejects({ ...base(), cluster: { members: [] } }, 'cluster.members');
  rejects(
    { ...base(), cluster: { members: [member(1), { id: 2, rpc: 'nowhere', api: '127.0.0.1:1' }] } },
    'cluster.members[1].rpc',
  );
  rejects({ ...base(), cluster: { members: [member(1), member(1)] } }, 'cluster.members[1].id');
  rejects({ ...base(), cluster: { members: [member(2), member(3)] } }, 'cluster.members');
  rejects({ ...base(), security: { secret: 'short' } }, 'security.secret');
  rejects({ ...base(), raft: { election_ticks: 5, heartbeat_ticks: 5 } }, 'raft.heartbeat_ticks');
  rejects({ ...base(), raft: { read_only: 'fast' } }, 'raft.read_only');
  rejects({ ...base(), raft: { read_only: 'lease', check_quorum: false } }, 'raft.read_only');
  rejects({ ...base(), raft: { tick_ms: 'ten' } }, 'raft.tick_ms');
  rejects({ ...base(), sharding: { user_shards: 0 } }, 'sharding.user_shards');
  const members = [member(1), member(2)];
  rejects({ ...base(), cluster: { members, preferred_leaders: 1 } }, 'cluster.preferred_leaders');
  rejects({ ...base(), cluster: { members, preferred_leaders: [0] } }, 'cluster.preferred_leaders');
  rejects({ ...base(), cluster: { members, preferred_leaders: [2, 2] } }, 'cluster.preferred_leaders');
  rejects(
    { ...base(), cluster: { members, leader_balance_interval_ms: -1 } },
    'cluster.leader_balance_interval_ms',
  );
});

test('a joining node need not be listed among the members', () => {
  const config = configFromToml({
    ...base(),
    node: { id: 4, data_dir: '/tmp/x', rpc: '127.0.0.1:7004', api: '127.0.0.1:8004' },
    cluster: { members: [member(1)], join: true },
  });
  assert.equal(config.cluster?.join, true);
});

test('[[security.clients]] and [watch]: each refusal names the key', () => {
  const secured = (clients: unknown) => ({
    ...base(),
    security: { secret: 'sixteen-chars-at-least', clients },
  });
  const ok = { name: 'ops', token: 'a-token-of-enough-length', role: 'admin' };
  assert.deepEqual(configFromToml(secured([ok])).security.clients, [ok]);
  rejects(secured({}), 'security.clients');
  rejects(secured(['ops']), 'security.clients[0]');
  rejects(secured([{ ...ok, token: 'short' }]), 'security.clients[0].token');
  rejects(secured([{ ...ok, role: 'root' }]), 'security.clients[0].role');
  rejects(secured([ok, { ...ok, token: 'another-token-of-length' }]), 'security.clients[1].name');
  rejects(secured([ok, { ...ok, name: 'other' }]), 'security.clients[1].token');
  rejects({ ...base(), watch: { history_events: -1 } }, 'watch.history_events');
  rejects({ ...base(), watch: { buffer_bytes: 10 } }, 'watch.buffer_bytes');
  assert.equal(configFromToml(base()).watch.historyEvents, 10_000);
  assert.equal(configFromToml(base()).node.shutdownTransferMs, 2_000);
  const slow = { ...base(), node: { id: 1, data_dir: '/tmp/x', shutdown_transfer_ms: 5_000 } };
  assert.equal(configFromToml(slow).node.shutdownTransferMs, 5_000);
  rejects(
    { ...base(), node: { id: 1, data_dir: '/tmp/x', shutdown_transfer_ms: -1 } },
    'node.shutdown_transfer_ms',
  );
});

test('a misspelt or unknown key is refused with the key it meant; bad log levels and shared addresses named', () => {
  const error = (doc: Record<string, unknown>): InvalidConfigError => {
    try {
      configFromToml(doc);
    } catch (e) {
      if (e instanceof InvalidConfigError) return e;
      throw e;
    }
    assert.fail('accepted');
  };
  const misspelt = error({ ...base(), raft: { tick_msec: 5 } });
  assert.equal(misspelt.key, 'raft.tick_msec');
  assert.match(misspelt.message, /did you mean tick_ms\?/);
  rejects({ ...base(), nodes: {} }, 'nodes');
  rejects({ ...base(), node: { id: 1, data_dir: '/tmp/x', datadir: '/x' } }, 'node.datadir');
  rejects({ ...base(), cluster: { members: [{ ...member(1), addr: 'x' }] } }, 'cluster.members[0].addr');
  rejects({ ...base(), layout: { groups: [{ id: 'g', kind: 'kv', count: 1 }] } }, 'layout.groups[0].count');
  rejects(
    {
      ...base(),
      security: {
        secret: 'sixteen-chars-at-least',
        clients: [{ name: 'a', token: 'x'.repeat(16), role: 'read', rol: 1 }],
      },
    },
    'security.clients[0].rol',
  );
  const level = error({ ...base(), node: { id: 1, data_dir: '/tmp/x', log_level: 'loud' } });
  assert.equal(level.key, 'node.log_level');
  assert.match(level.message, /loud/);
  rejects(
    { ...base(), cluster: { members: [member(1), { ...member(2), rpc: member(1).rpc }] } },
    'cluster.members[1].rpc',
  );
  rejects(
    { ...base(), cluster: { members: [member(1), { ...member(2), api: member(1).rpc }] } },
    'cluster.members[1].api',
  );
});
