/**
 * The main thread's handle on one group replica (an actor on some thread): a mirror of who leads (kept
 * current by the replica's leader notifications) and asynchronous operations that become asks, with errors
 * rebuilt into their typed classes.
 */

import {
  ActorFailedError,
  type ActorRef,
  ActorStoppedError,
  type ActorSystem,
  AskTimeoutError,
  HostFailedError,
} from '@flotilla/actors';
import type { ConfChange, GroupId, NodeId } from '@flotilla/core';
import { RequestTimeoutError } from './errors.ts';
import type { ReadConsistency } from './executor.ts';
import type { GroupMessage, GroupReply, ReplicaStatus } from './group-actor.ts';
import type { Query } from './queries.ts';
import type { RaftGroup } from './raft-group.ts';
import { mainThreadReplicas, replicaKey } from './thread-context.ts';
import { fromWireError } from './wire-errors.ts';

export class GroupHandle {
  leaderId: NodeId = 0;
  term = 0;
  /** When the leader last changed, as this node saw it (performance.now() ms). */
  leaderSinceMs = performance.now();

  private readonly key: string;

  constructor(
    readonly id: GroupId,
    readonly ref: ActorRef<GroupMessage>,
    private readonly selfId: NodeId,
    private readonly system: ActorSystem,
  ) {
    this.key = replicaKey(selfId, id);
  }

  get isLeader(): boolean {
    return this.leaderId === this.selfId;
  }

  /** Tells the replica that `peer` (its leader, usually) did not answer in time. */
  suspect(peer: NodeId): void {
    if (peer !== 0 && peer !== this.selfId) this.system.tell(this.ref, { type: 'unreachable', peer });
  }

  /** The replica itself when its actor runs on this (the main) thread; undefined otherwise or while restarting. */
  private get local(): RaftGroup | undefined {
    return mainThreadReplicas.get(this.key);
  }

  deliver(payload: Uint8Array): void {
    const local = this.local;
    if (!local) {
      this.system.tell(this.ref, { type: 'raft', payload });
      return;
    }
    try {
      local.deliver(payload);
    } catch (error) {
      // An invariant broke inside the replica: have its actor fail, so that its supervisor restarts it from
      // storage exactly as if the message had gone through the mailbox.
      this.system.tell(this.ref, {
        type: 'failed',
        reason: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async ask<T>(
    message: GroupMessage & { type: 'propose' | 'confChange' | 'read' | 'transfer' | 'status' },
    timeoutMs: number,
  ): Promise<T> {
    let reply: GroupReply<unknown>;
    try {
      reply = (await this.system.ask(this.ref, message as never, {
        timeoutMs: Math.max(1, timeoutMs),
      })) as GroupReply<unknown>;
    } catch (error) {
      if (error instanceof AskTimeoutError) throw new RequestTimeoutError(this.id, timeoutMs, message.type);
      // The replica's actor failed or its thread died while handling the ask: the outcome is unknown, exactly
      // like a timeout (the supervisor restarts it from storage; a command with a session may be retried).
      if (
        error instanceof HostFailedError ||
        error instanceof ActorFailedError ||
        error instanceof ActorStoppedError
      ) {
        throw new RequestTimeoutError(this.id, timeoutMs, `${message.type}: ${error.message}`);
      }
      throw error;
    }
    if (!reply.ok) throw fromWireError(reply.error);
    return reply.value as T;
  }

  propose(data: Uint8Array, timeoutMs: number): Promise<unknown> {
    const started = performance.now();
    const local = this.local;
    const result = local ? local.propose(data) : this.ask({ type: 'propose', data }, timeoutMs);
    return result.then((value) => {
      this.onLatency?.(performance.now() - started);
      return value;
    });
  }

  /** Told the duration (ms) of every successful proposal made through this handle. */
  onLatency: ((ms: number) => void) | undefined;

  proposeConfChange(change: ConfChange, timeoutMs: number): Promise<unknown> {
    return this.ask({ type: 'confChange', change }, timeoutMs);
  }

  read(query: Query, consistency: ReadConsistency, timeoutMs: number): Promise<unknown> {
    const local = this.local;
    return local
      ? local.query(query, consistency)
      : this.ask({ type: 'read', query, consistency }, timeoutMs);
  }

  transferLeadership(to: NodeId, timeoutMs: number): Promise<unknown> {
    return this.ask({ type: 'transfer', to }, timeoutMs);
  }

  status(timeoutMs = 5_000): Promise<ReplicaStatus> {
    return this.ask({ type: 'status' }, timeoutMs);
  }
}
