/**
 * Configuration validation of a `RaftNode`: every out-of-range setting is refused at construction with an
 * `InvalidConfigError` that names the offending key; defaults give a working node.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  InvalidConfigError,
  MemoryLogStorage,
  MemoryStableStorage,
  type RaftConfig,
  RaftNode,
} from '@flotilla/core';

function base(): RaftConfig {
  return { id: 1, group: 'g', logStorage: new MemoryLogStorage(), stableStorage: new MemoryStableStorage() };
}

test('every invalid setting throws InvalidConfigError naming its key', () => {
  const table: [Partial<Record<keyof RaftConfig, unknown>>, string][] = [
    [{ id: 0 }, 'id'],
    [{ id: -3 }, 'id'],
    [{ id: 1.5 }, 'id'],
    [{ group: '' }, 'group'],
    [{ electionTicks: 0 }, 'electionTicks'],
    [{ heartbeatTicks: 0 }, 'heartbeatTicks'],
    [{ electionTicks: 5, heartbeatTicks: 5 }, 'heartbeatTicks'], // heartbeats must come before elections
    [{ readOnly: 'fast' }, 'readOnly'],
    [{ readOnly: 'lease', checkQuorum: false }, 'readOnly'], // the lease is the check-quorum interval
    [{ applied: -1 }, 'applied'],
    [{ appendBytesMax: 0 }, 'appendBytesMax'],
    [{ inflightMessagesMax: 0 }, 'inflightMessagesMax'],
    [{ inflightBytesMax: -1 }, 'inflightBytesMax'],
    [{ uncommittedBytesMax: 0 }, 'uncommittedBytesMax'],
    [{ committedBytesPerReadyMax: 0 }, 'committedBytesPerReadyMax'],
    [{ pendingReadsMax: 0 }, 'pendingReadsMax'],
    [{ proposalEntriesMax: Number.NaN }, 'proposalEntriesMax'],
  ];
  for (const [override, key] of table) {
    assert.throws(
      () => new RaftNode({ ...base(), ...override } as RaftConfig),
      (error: unknown) => {
        assert.ok(error instanceof InvalidConfigError, JSON.stringify(override));
        assert.equal(error.code, 'FLOTILLA_INVALID_CONFIG');
        assert.equal(error.key, key, JSON.stringify(override));
        assert.match(error.message, new RegExp(key));
        return true;
      },
    );
  }
});

test('defaults and boundary values are accepted', () => {
  const node = new RaftNode(base());
  assert.equal(node.role, 'follower');
  assert.equal(node.term, 0);
  assert.equal(node.group, 'g');
  new RaftNode({ ...base(), inflightBytesMax: 0, electionTicks: 2, heartbeatTicks: 1, readOnly: 'lease' });
});
