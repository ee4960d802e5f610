/**
 * Messages of the live-queries runtime: every node's presence actor (announced in each user shard, pinged
 * by reapers) and the reaper on each user shard's leader (death watch on the presences, then a fenced
 * removal of a dead node's subscriptions).
 */
import type { Ask, Terminated } from '@flotilla/actors';

export type PresenceMessage =
  | { readonly type: 'announce' }
  | Ask<{ readonly type: 'ping' }, { readonly node: number }>;

export type ReaperMessage = { readonly type: 'maintain' } | Terminated;
