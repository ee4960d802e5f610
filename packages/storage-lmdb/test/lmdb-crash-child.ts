/**
 * Child process of the LMDB crash test: the shared writer (crash-writer.ts) on LMDB with small delete chunks,
 * plus state-machine applies in every group, each durable applied index reported (`S`), until SIGKILLed.
 */
import type { Command } from '@flotilla/core';
import { type KvView, type NodeStorage, openStorage } from '../src/index.ts';
import { report, runWriterChild } from './crash-writer.ts';

/** Small, so that truncations and installs delete in many transactions, any of which a kill may cut. */
const DELETE_CHUNK_ENTRIES = 8;

export function openLmdb(dir: string): Promise<NodeStorage> {
  return openStorage({ path: dir, nodeId: 1, deleteChunkEntries: DELETE_CHUNK_ENTRIES });
}

/** The state-machine transition used by child and parent: count commands, remember the last per bucket. */
export function applyCounter(command: Command, kv: KvView): number {
  const count = readUint(kv.get('count')) + 1;
  kv.put('count', writeUint(count));
  kv.put(`k${command.index % 7}`, writeUint(command.index));
  return count;
}

export function readUint(bytes: Uint8Array | undefined): number {
  return bytes === undefined ? 0 : Buffer.from(bytes).readUInt32BE(0);
}

function writeUint(value: number): Uint8Array {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

if (process.argv[1]?.endsWith('lmdb-crash-child.ts')) {
  await runWriterChild(openLmdb, (storage, group) => {
    const sm = storage.kvStateMachine(group, applyCounter);
    const run = (random: () => number): void => {
      const from = sm.appliedIndex + 1;
      const commands = Array.from({ length: 1 + Math.floor(random() * 5) }, (_, i) => ({
        index: from + i,
        term: 1,
        data: new Uint8Array(0),
      }));
      sm.apply(commands);
      const applied = sm.appliedIndex;
      sm.flushed().then(() => report(`S ${group} ${applied}`));
    };
    return { extra: { share: 0.08, run } };
  });
}
