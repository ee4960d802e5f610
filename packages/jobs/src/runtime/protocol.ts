/**
 * Messages between dispatchers (one per jobs group, on its leader) and worker pools (one per queue, on every
 * node), across threads and processes: plain data, refs included. A dispatcher announces itself to the
 * pools it knows; a pool offers its free slots to every dispatcher; a dispatcher hands claimed jobs over.
 */
import type { ActorRef, Terminated } from '@flotilla/actors';
import type { ClaimBatch } from '../model.ts';

export type PoolMessage =
  /** The dispatcher of `group` (term `term`) runs at `ref`: offer it work slots. */
  | {
      readonly type: 'dispatcher';
      readonly group: string;
      readonly term: number;
      readonly ref: ActorRef<DispatcherMessage>;
    }
  /** Jobs claimed for this pool (compact, as the claim answered them): run them. */
  | { readonly type: 'run'; readonly group: string; readonly queue: string; readonly batch: ClaimBatch }
  | { readonly type: 'heartbeat' }
  | { readonly type: 'flush' }
  | { readonly type: 'register' };

export type DispatcherMessage =
  /** A pool's free slots (absolute: the latest offer replaces the previous one). */
  | {
      readonly type: 'offer';
      readonly worker: string;
      readonly queue: string;
      readonly node: number;
      readonly free: number;
      readonly ref: ActorRef<PoolMessage>;
    }
  | { readonly type: 'round' }
  | { readonly type: 'maintain' }
  | Terminated;
