/**
 * Runs the storage contract suites (log and hard state, snapshots, opening) against both engines, LMDB and
 * the WAL: each behaviour core relies on is written once; engine-specific tests live in lmdb-* and wal-* files.
 */
import { describe } from 'node:test';
import { contractLog } from './contract-log.ts';
import { contractOpen } from './contract-open.ts';
import { contractSnapshot } from './contract-snapshot.ts';
import { ENGINES } from './engines.ts';

for (const engine of ENGINES) {
  describe(engine.name, () => {
    contractLog(engine);
    contractSnapshot(engine);
    contractOpen(engine);
  });
}
