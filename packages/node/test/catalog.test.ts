/**
 * The catalog machine (a registered machine like any other): nodes, groups with their kinds, shard sets;
 * deterministic refusals; a snapshot that carries all of it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_CONF_STATE } from '@flotilla/core';
import { CatalogMachine, type CatalogState } from '../src/cluster/catalog.ts';
import { memoryInstance } from './machine-helpers.ts';

const node = (id: number) => ({ id, rpc: `h:${id}`, api: `h:${id + 100}` });
const state = (h: ReturnType<typeof memoryInstance>) => h.instance.state as CatalogState;

test('the catalog applies init, node, group and shard commands deterministically and survives a snapshot', () => {
  const h = memoryInstance(CatalogMachine);
  const outcomes = h.apply(
    CatalogMachine,
    {
      name: 'init',
      input: {
        nodes: [node(1), node(2)],
        groups: [{ id: 'meta:users', kind: 'kv' }],
        shards: [{ prefix: 'user', count: 2, kind: 'kv' }],
      },
    },
    { name: 'addNode', input: { node: node(3) } },
    { name: 'createGroup', input: { id: 'topic:0', kind: 'stream' } },
    { name: 'createShards', input: { prefix: 'account', count: 3, kind: 'entity:account' } },
    { name: 'deleteGroup', input: { id: 'meta:users' } },
  );
  assert.ok(
    outcomes.every((o) => o?.ok),
    JSON.stringify(outcomes),
  );
  const s = state(h);
  assert.deepEqual([...s.nodes.keys()], [1, 2, 3]);
  assert.deepEqual(s.groups.get('user:1'), { id: 'user:1', kind: 'kv', founders: [1, 2] });
  assert.deepEqual(
    s.groups.get('topic:0')?.founders,
    [1, 2, 3],
    'a group created later is founded by the members then',
  );
  assert.equal(s.groups.get('account:2')?.kind, 'entity:account');
  assert.deepEqual([...s.shards.keys()], ['user', 'account']);
  assert.equal(s.groups.has('meta:users'), false);

  const copy = memoryInstance(CatalogMachine);
  copy.instance.restore(h.instance.snapshot(), { index: h.index, term: 1, confState: EMPTY_CONF_STATE });
  assert.deepEqual(copy.instance.query('catalog', {}), h.instance.query('catalog', {}));
});

test('refused catalog commands change nothing: the catalog, a routed shard, a kind clash, a bad node', () => {
  const h = memoryInstance(CatalogMachine);
  h.apply(CatalogMachine, {
    name: 'init',
    input: {
      nodes: [node(1)],
      groups: [{ id: 'meta:system', kind: 'catalog' }],
      shards: [{ prefix: 'user', count: 2, kind: 'kv' }],
    },
  });
  const before = h.instance.query('catalog', {});
  const reasons = h
    .apply(
      CatalogMachine,
      { name: 'deleteGroup', input: { id: 'meta:system' } },
      { name: 'deleteGroup', input: { id: 'user:1' } },
      { name: 'createGroup', input: { id: 'user:0', kind: 'entity:account' } },
      { name: 'createShards', input: { prefix: 'user', count: 4, kind: 'kv' } },
    )
    .map((o) => (o?.ok === false ? o.error.reason : 'ok'));
  assert.deepEqual(reasons, ['reserved', 'routed', 'exists', 'exists']);
  assert.deepEqual(h.instance.query('catalog', {}), before);
  assert.throws(
    () => h.apply(CatalogMachine, { name: 'addNode', input: { node: { id: -1, rpc: 'x', api: 'y' } } }),
    { code: 'FLOTILLA_SCHEMA' },
    'a bad node is refused before it could be proposed',
  );
});

test('a retried catalog command of one session applies once', () => {
  const h = memoryInstance(CatalogMachine);
  const session = { clientId: 'admin', sequence: 1 };
  h.apply(CatalogMachine, { name: 'addNode', input: { node: node(9) }, session });
  h.apply(CatalogMachine, {
    name: 'removeNode',
    input: { id: 9 },
    session: { clientId: 'admin', sequence: 2 },
  });
  const [again] = h.apply(CatalogMachine, { name: 'addNode', input: { node: node(9) }, session });
  assert.deepEqual(again, { ok: true, value: { changed: true } }, 'the stored outcome of the first apply');
  assert.equal(state(h).nodes.has(9), false, 'the duplicate did not re-add the node');
});
