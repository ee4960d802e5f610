/**
 * What the jobs cluster tests share: the test application's module path, and which node leads a group.
 */
import { fileURLToPath } from 'node:url';
import type { FlotillaClient } from '@flotilla/client';
import { type ProcessCluster, statusOf } from '../../node/test/process-cluster.ts';

export const APP = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));

/** The node leading `group` now (0: none answered as leader). */
export async function leaderOf(
  cluster: ProcessCluster,
  client: FlotillaClient,
  group: string,
): Promise<number> {
  for (const id of cluster.members) {
    try {
      const s = await statusOf(client, cluster.api(id));
      if (s.groups.some((x) => x.id === group && x.role === 'leader')) return id;
    } catch {
      // A node down or cut off.
    }
  }
  return 0;
}
