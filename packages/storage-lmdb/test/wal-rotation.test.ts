/**
 * WAL segment rotation: past `segmentBytes` a checkpoint of every group is streamed into a new segment while
 * writes keep going to the current one, then sealed together with them; older segments are deleted; an
 * unsealed new segment (a crash mid-rotation) is ignored and removed by recovery.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openWal, type WalFileIo, type WalOptions } from '../src/index.ts';
import { BatchBuilder, ChunkPool } from '../src/wal/batch.ts';
import { defaultFileIo } from '../src/wal/file-io.ts';
import {
  CHECKPOINT_RECORD_BYTES,
  opRecordBytes,
  writeCheckpointRecord,
  writeOpRecord,
} from '../src/wal/format.ts';
import { entryData, makeEntries, meta, sameBytes, tempDirs } from './helpers.ts';
import {
  lastIndexAfterReopen,
  walOptions as options,
  segmentFiles,
  segmentPath,
  seqOf,
  writeAndClose,
} from './wal-helpers.ts';

const newDir = tempDirs('wal-rotation');

describe('segment rotation', () => {
  it('checkpoints every group into the new segment, deletes the old ones, and recovers from it', async () => {
    const dir = newDir();
    const opts = options(dir, { segmentBytes: 64 * 1024 });
    const store = await openWal(opts);
    await store.group('idle-hard').setHardState({ term: 4, vote: 2, commit: 1 });
    const snapped = store.group('snapped');
    await snapped.append(makeEntries('snapped', 1, 20, 1));
    await snapped.saveSnapshot(meta(20, 1), new Uint8Array([42]));
    await snapped.compact(20);
    const busy = store.group('busy');
    for (let i = 0; i < 100; i++) {
      await busy.append(makeEntries('busy', i * 20 + 1, i * 20 + 20, 1));
      if (i % 10 === 9) {
        await busy.saveSnapshot(meta(i * 20 + 10, 1), new Uint8Array([i]));
        await busy.compact(i * 20 + 10);
      }
    }
    await store.flushed();
    const rotations = store.stats().rotations;
    assert.ok(rotations >= 5, `${rotations} rotations`);
    await store.close();
    assert.equal(segmentFiles(dir).length, 1, 'older segments are deleted');
    const again = await openWal(opts);
    assert.deepEqual(again.group('idle-hard').hardState(), { term: 4, vote: 2, commit: 1 });
    assert.equal(again.group('snapped').firstIndex(), 21);
    assert.equal(again.group('snapped').term(20), 1);
    assert.ok(sameBytes(again.group('snapped').snapshot().data, new Uint8Array([42])));
    const b = again.group('busy');
    assert.equal(b.firstIndex(), 1991);
    assert.equal(b.lastIndex(), 2000);
    assert.equal(b.term(1990), 1);
    assert.equal(b.entries(1991, 2001, 1e9).length, 10);
    assert.equal(b.snapshotMeta().index, 1990);
    assert.deepEqual(again.groupIds(), ['busy', 'idle-hard', 'snapped']);
    await again.close();
  });

  it('a checkpoint torn during rotation: its segment is deleted and the previous one is resumed', async () => {
    // The new segment got its name but only part of its checkpoint batch.
    const { dir, current } = await besideSegment(3, +1, (path) => readFileSync(path).subarray(0, 30));
    assert.equal(await lastIndexAfterReopen(dir), 30);
    assert.deepEqual(segmentFiles(dir), [current]);
  });

  it('reads only the newest segment: older ones left by a crash before their deletion are just deleted', async () => {
    const { dir, current } = await besideSegment(2, -1, () => randomBytes(4096));
    assert.equal(await lastIndexAfterReopen(dir), 20);
    assert.deepEqual(segmentFiles(dir), [current]);
  });

  it('a complete checkpoint without its seal batch is ignored: the previous segment holds everything', async () => {
    const { dir, current } = await besideSegment(3, +1, (_, seq) => unsealedCheckpoint(seq));
    const again = await openWal(options(dir));
    assert.equal(again.group('g').lastIndex(), 30);
    assert.equal(again.group('g').term(1), 1);
    await again.close();
    assert.deepEqual(segmentFiles(dir), [current]);
  });

  it('keeps committing batches to the current segment while the checkpoint streams into the next one', async () => {
    const dir = newDir();
    // A writer stuck behind the rotation would sync nothing for 5 s.
    const run = await rotateUnderLoad(dir, {}, { syncs: 2, quietMs: 5000 });
    assert.ok(run.meanwhile >= 8, `${run.meanwhile} batches committed during the rotation`);
    const again = await openWal(options(dir, { segmentBytes: 256 * 1024 }));
    assert.equal(
      again.group('small').lastIndex(),
      run.last,
      'the batches of the rotation are in the new segment',
    );
    assert.equal(again.group('big').lastIndex(), 20_000);
    const [entry] = again.group('big').entries(777, 778, 1e9);
    assert.ok(entry && sameBytes(entry.data, entryData('big', 777, 1)));
    await again.close();
    assert.equal(segmentFiles(dir).length, 1);
  });

  it('holds batches back once the records kept for the new segment reach pendingBytesMax', async () => {
    const dir = newDir();
    // Each checkpoint chunk waits for 40 batches (unbounded, the rotation would span 200 of them), or
    // until the writer stops syncing, held back, for 200 ms.
    const run = await rotateUnderLoad(dir, { pendingBytesMax: 32 * 1024 }, { syncs: 40, quietMs: 200 });
    const batchBytes = 1150; // 10 entries of 100 bytes and their headers
    assert.ok(run.meanwhile <= Math.ceil((32 * 1024) / batchBytes) + 1, `${run.meanwhile} batches kept`);
    assert.equal(await lastIndexAfterReopen(dir, {}, 'small'), run.last);
  });
});

/**
 * Writes `batches` batches to a new WAL, then writes `bytes` as the segment numbered `offset` from the
 * current one (a leftover of a crash). Returns the directory and the current segment's name.
 */
async function besideSegment(
  batches: number,
  offset: number,
  bytes: (currentPath: string, seq: number) => Uint8Array,
): Promise<{ dir: string; current: string }> {
  const dir = newDir();
  await writeAndClose(dir, batches);
  const [current] = segmentFiles(dir) as [string];
  const seq = seqOf(current) + offset;
  writeFileSync(segmentPath(dir, seq), bytes(join(dir, 'wal', current), seq));
  return { dir, current };
}

/** A valid checkpoint batch for segment `seq` claiming that g holds one entry of term 9, and no seal. */
function unsealedCheckpoint(seq: number): Uint8Array {
  const builder = new BatchBuilder(new ChunkPool(1 << 16, 1));
  const [head, at] = builder.reserve(CHECKPOINT_RECORD_BYTES);
  writeCheckpointRecord(head, at, seq, 1);
  const key = Buffer.from('g');
  const op = { type: 'entries', first: 1, entries: makeEntries('g', 1, 1, 9) } as const;
  const bytes = opRecordBytes(key, op);
  const [buf, off] = builder.reserve(bytes);
  writeOpRecord(buf, off, key, op, bytes);
  return Buffer.concat(builder.finish(1));
}

/** Rotation starts past 3 MiB: after `big` (2.3 MB), while `small` appends. */
const ROTATING_SEGMENT_BYTES = 4 * 1024 * 1024;

/**
 * Fills group `big` (20,000 entries, 2.3 MB: a checkpoint of at least 4 chunks), then appends to group
 * `small` one batch per turn until the rotation is done, holding each checkpoint chunk as `wait` says.
 * Returns how many batches the old segment synced between the first write of the new segment and its seal,
 * and the last index of `small`.
 */
async function rotateUnderLoad(
  dir: string,
  more: Partial<WalOptions>,
  wait: { syncs: number; quietMs: number },
): Promise<{ meanwhile: number; last: number }> {
  const events: string[] = [];
  let syncs = 0;
  /** Each checkpoint chunk waits for `wait.syncs` more synced batches, or until none came for `wait.quietMs`. */
  const moreSyncs = async (): Promise<void> => {
    const target = syncs + wait.syncs;
    let seen = syncs;
    let quietSince = Date.now();
    while (syncs < target && Date.now() - quietSince < wait.quietMs) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (syncs !== seen) [seen, quietSince] = [syncs, Date.now()];
    }
  };
  const io: WalFileIo = {
    async write(fd, buffers, position) {
      events.push(`write ${fd}`);
      if (buffers.reduce((sum, b) => sum + b.length, 0) >= 256 * 1024) await moreSyncs();
      return defaultFileIo.write(fd, buffers, position);
    },
    async fdatasync(fd) {
      events.push(`sync ${fd}`);
      await defaultFileIo.fdatasync(fd);
      syncs++;
    },
  };
  const store = await openWal(options(dir, { segmentBytes: ROTATING_SEGMENT_BYTES, io, ...more }));
  const big = store.group('big');
  for (let i = 0; i < 100; i++) await big.append(makeEntries('big', i * 200 + 1, i * 200 + 200, 1));
  await store.flushed();
  const rotations = store.stats().rotations;
  assert.equal(rotations, 1, 'only the first segment so far');
  events.length = 0;
  const small = store.group('small');
  let last = 0;
  while (store.stats().rotations === rotations) {
    await small.append(makeEntries('small', last + 1, last + 10, 1));
    last += 10;
  }
  await store.close();
  const fds = [...new Set(events.map((e) => e.split(' ')[1]))];
  assert.equal(fds.length, 2, 'two segment files were written');
  const [oldFd, newFd] = fds as [string, string];
  const start = events.indexOf(`write ${newFd}`);
  const sealed = events.lastIndexOf(`sync ${newFd}`);
  const meanwhile = events.slice(start, sealed).filter((e) => e === `sync ${oldFd}`).length;
  return { meanwhile, last };
}
