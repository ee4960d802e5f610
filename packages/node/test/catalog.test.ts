import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CatalogStateMachine, encodeCatalogCommand } from '@flotilla/node';

const node = (id: number) => ({ id, rpc: `h:${id}`, api: `h:${id + 100}` });

test('the catalog applies init, node and group commands deterministically and survives a snapshot', () => {
  const sm = new CatalogStateMachine();
  let changes = 0;
  sm.onChange = () => changes++;
  const cmds = [
    encodeCatalogCommand({
      op: 'init',
      nodes: [node(1), node(2)],
      groups: [
        { id: 'meta:system', kind: 'catalog' },
        { id: 'user:0', kind: 'kv' },
      ],
    }),
    encodeCatalogCommand({ op: 'addNode', node: node(3) }),
    encodeCatalogCommand({ op: 'createGroup', group: { id: 'topic:0', kind: 'kv' } }),
    encodeCatalogCommand({ op: 'deleteGroup', id: 'user:0' }),
  ];
  const results = sm.apply(cmds.map((data, i) => ({ index: i + 1, term: 1, data })));
  assert.ok(results.every((r) => r.ok));
  assert.deepEqual([...sm.nodes.keys()], [1, 2, 3]);
  assert.deepEqual(sm.groups.get('meta:system')?.founders, [1, 2]);
  assert.deepEqual(
    sm.groups.get('topic:0')?.founders,
    [1, 2, 3],
    'a group created later is founded by the members at that time',
  );
  assert.equal(sm.groups.has('user:0'), false);
  assert.equal(changes, 1, 'one reconcile per applied batch');

  const copy = new CatalogStateMachine();
  copy.restore(sm.snapshot(), {
    index: sm.appliedIndex,
    term: 1,
    confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
  });
  assert.deepEqual([...copy.nodes.values()], [...sm.nodes.values()]);
  assert.deepEqual([...copy.groups.values()], [...sm.groups.values()]);
});

test('malformed catalog commands are refused without changing anything; the catalog group cannot be deleted', () => {
  const sm = new CatalogStateMachine();
  const bad = [
    new Uint8Array([0xc1]),
    encodeCatalogCommand({ op: 'addNode', node: { id: -1, rpc: 'x', api: 'y' } } as never),
  ];
  const results = sm.apply(bad.map((data, i) => ({ index: i + 1, term: 1, data })));
  assert.deepEqual(
    results.map((r) => r.ok),
    [false, false],
  );
  const [r] = sm.apply([
    { index: 3, term: 1, data: encodeCatalogCommand({ op: 'deleteGroup', id: 'meta:system' }) },
  ]);
  assert.equal(r?.ok, false);
  assert.equal(sm.appliedIndex, 3);
});

test('a retried catalog command with the same session applies once', () => {
  const sm = new CatalogStateMachine();
  const cmd = encodeCatalogCommand({ op: 'addNode', node: node(9) }, { clientId: 'admin', sequence: 1 });
  sm.apply([{ index: 1, term: 1, data: cmd }]);
  sm.apply([
    {
      index: 2,
      term: 1,
      data: encodeCatalogCommand({ op: 'removeNode', id: 9 }, { clientId: 'admin', sequence: 2 }),
    },
  ]);
  const [again] = sm.apply([{ index: 3, term: 1, data: cmd }]);
  assert.deepEqual(again, { ok: true, changed: true }, 'the stored result of the first apply');
  assert.equal(sm.nodes.has(9), false, 'the duplicate did not re-add the node');
});
