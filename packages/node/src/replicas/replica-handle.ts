/**
 * The main thread's handle on one replica: a mirror of who leads (kept current by the replica's leader
 * notifications), and its operations — called directly when the replica lives on the main thread (attached
 * by its actor), asked of its actor otherwise, with errors rebuilt into their typed classes.
 */

import {
  ActorFailedError,
  type ActorRef,
  ActorStoppedError,
  type ActorSystem,
  AskTimeoutError,
  HostFailedError,
} from '@flotilla/actors';
import { fromWireError, type ReadConsistency, RequestTimeoutError } from '@flotilla/app';
import type { ConfChange, GroupId, NodeId } from '@flotilla/core';
import type { ProposeRequest, Replica } from './replica.ts';
import {
  type ReplicaMessage,
  type ReplicaReply,
  type ReplicaStatus,
  replicaStatus,
} from './replica-actor.ts';

type AskedMessage = ReplicaMessage & { type: 'propose' | 'confChange' | 'query' | 'transfer' | 'status' };

export class ReplicaHandle {
  leaderId: NodeId = 0;
  term = 0;
  /** When the leader last changed, as this node saw it (performance.now() ms). */
  leaderSinceMs = performance.now();
  /** The replica itself while its actor runs on the main thread (undefined while it restarts). */
  private local: Replica | undefined;
  /** Told the duration (ms) of every successful proposal made through this handle. */
  onLatency: ((ms: number) => void) | undefined;

  constructor(
    readonly id: GroupId,
    readonly kind: string,
    readonly ref: ActorRef<ReplicaMessage>,
    private readonly selfId: NodeId,
    private readonly system: ActorSystem,
  ) {}

  get isLeader(): boolean {
    return this.leaderId === this.selfId;
  }

  /** Called by a main-thread replica's actor when it (re)starts or stops. */
  attach(replica: Replica | undefined): void {
    this.local = replica;
  }

  /** Tells the replica that `peer` (its leader, usually) did not answer in time. */
  suspect(peer: NodeId): void {
    if (peer !== 0 && peer !== this.selfId) this.system.tell(this.ref, { type: 'unreachable', peer });
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

  private async ask<T>(message: AskedMessage, timeoutMs: number): Promise<T> {
    let reply: ReplicaReply<unknown>;
    try {
      reply = (await this.system.ask(this.ref, message as never, {
        timeoutMs: Math.max(1, timeoutMs),
      })) as ReplicaReply<unknown>;
    } catch (error) {
      if (error instanceof AskTimeoutError) throw new RequestTimeoutError(this.id, timeoutMs, message.type);
      // The replica's actor failed or its thread died while handling the ask: the outcome is unknown, exactly
      // like a timeout (the supervisor restarts it from storage; a command with a session may be retried).
      if (
        error instanceof HostFailedError ||
        error instanceof ActorFailedError ||
        error instanceof ActorStoppedError
      )
        throw new RequestTimeoutError(this.id, timeoutMs, `${message.type}: ${error.message}`);
      throw error;
    }
    if (!reply.ok) throw fromWireError(reply.error);
    return reply.value as T;
  }

  /** Runs `direct` on a main-thread replica, else asks its actor; a direct throw becomes a rejection. */
  private call<T>(direct: (r: Replica) => Promise<T>, message: AskedMessage, timeoutMs: number): Promise<T> {
    const local = this.local;
    if (!local) return this.ask<T>(message, timeoutMs);
    try {
      return direct(local);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  propose(request: ProposeRequest, timeoutMs: number): Promise<unknown> {
    const started = performance.now();
    return this.call((r) => r.propose(request), { type: 'propose', request }, timeoutMs).then((value) => {
      this.onLatency?.(performance.now() - started);
      return value;
    });
  }

  proposeConfChange(change: ConfChange, timeoutMs: number): Promise<unknown> {
    return this.call((r) => r.proposeConfChange(change), { type: 'confChange', change }, timeoutMs);
  }

  query(name: string, input: unknown, consistency: ReadConsistency, timeoutMs: number): Promise<unknown> {
    return this.call(
      (r) => r.query(name, input, consistency),
      { type: 'query', name, input, consistency },
      timeoutMs,
    );
  }

  transferLeadership(to: NodeId, timeoutMs: number): Promise<unknown> {
    return this.call(
      async (r) => {
        r.transferLeadership(to);
        return null;
      },
      { type: 'transfer', to },
      timeoutMs,
    );
  }

  status(timeoutMs = 5_000): Promise<ReplicaStatus> {
    return this.call(async (r) => replicaStatus(r, 0), { type: 'status' }, timeoutMs);
  }
}
