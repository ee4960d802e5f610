/**
 * Bootstrapping a new group: the initial membership is written as committed conf-change entries at
 * term 1 (as etcd does), so that a node that joins later learns it from the log like any other change.
 */
import { assert } from './assert.ts';
import { encodeConfChange } from './codec.ts';
import type { LogStorage, StableStorage } from './storage.ts';
import { type Entry, EntryKind, type NodeId } from './types.ts';

/**
 * The entries every founding member writes: one `addVoter` per voter in ascending id order, then the
 * application's initial commands (identical on every founder, e.g. the catalog's initial content).
 */
export function bootstrapEntries(
  voters: readonly NodeId[],
  initialCommands: readonly Uint8Array[] = [],
): Entry[] {
  const ids = [...new Set(voters)].sort((a, b) => a - b);
  assert(ids.length > 0, 'a group needs at least one voter');
  assert(
    ids.every((id) => Number.isSafeInteger(id) && id > 0),
    'voter ids must be positive integers',
  );
  const confChanges = ids.map((nodeId, i) => ({
    term: 1,
    index: i + 1,
    kind: EntryKind.ConfChange,
    data: encodeConfChange({ changes: [{ op: 'addVoter', nodeId }] }),
  }));
  const commands = initialCommands.map((data, i) => ({
    term: 1,
    index: ids.length + i + 1,
    kind: EntryKind.Normal,
    data,
  }));
  return [...confChanges, ...commands];
}

/**
 * Writes the bootstrap entries and hard state into empty storage. Every founding member must call this
 * with the same voters; a node joining later starts from empty storage instead.
 */
export async function bootstrapStorage(
  log: LogStorage,
  stable: StableStorage,
  voters: readonly NodeId[],
  initialCommands: readonly Uint8Array[] = [],
): Promise<void> {
  assert(log.lastIndex() === 0 && log.snapshot().meta.index === 0, 'bootstrap needs empty storage');
  const entries = bootstrapEntries(voters, initialCommands);
  // Issued together: storage applies writes in order, so the entries are durable before the hard state.
  await Promise.all([log.append(entries), stable.setHardState({ term: 1, vote: 0, commit: entries.length })]);
}

/** True when the storage holds nothing yet (neither entries nor a snapshot). */
export function isStorageEmpty(log: LogStorage, stable: StableStorage): boolean {
  return log.lastIndex() === 0 && log.snapshot().meta.index === 0 && stable.hardState().term === 0;
}
