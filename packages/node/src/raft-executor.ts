/**
 * Cluster mode of the `CommandExecutor`: a command is proposed on the group's leader (forwarded over the peer
 * links when the leader is another node), waits for commit and apply, and returns the state machine's result.
 * Requests to a group without a leader wait (bounded, with backoff) and retry instead of hanging.
 */
import {
  type ConfChange,
  decodeSessionCommand,
  type GroupId,
  type NodeId,
  NotLeaderError,
} from '@flotilla/core';
import { RequestTimeoutError, UnknownGroupError } from './errors.ts';
import type { CommandExecutor, ReadConsistency, RequestOptions } from './executor.ts';
import type { GroupHost } from './group-host.ts';
import { type Query, runQuery, validateQuery } from './queries.ts';
import type { RaftGroup } from './raft-group.ts';
import { type BackoffSettings, backoffMs, sleep, withTimeout } from './retry.ts';
import type { NodeRpc } from './rpc.ts';
import { isRetryable } from './wire-errors.ts';

export interface RaftExecutorOptions {
  readonly selfId: NodeId;
  readonly host: GroupHost;
  readonly rpc: NodeRpc;
  readonly requestTimeoutMs: number;
  readonly backoff: BackoffSettings;
  /** True when the catalog knows the group (its replica may still be starting here). */
  readonly knowsGroup: (group: GroupId) => boolean;
}

type LeaderOp<T> = (group: RaftGroup) => Promise<T>;

export class RaftExecutor implements CommandExecutor {
  constructor(private readonly o: RaftExecutorOptions) {}

  execute(group: GroupId, command: Uint8Array, options: RequestOptions = {}): Promise<unknown> {
    // Without a session a command whose outcome is unknown (timeout) must not be sent again.
    const retryOnTimeout = hasSession(command);
    return this.onLeader(
      group,
      'execute',
      { group, command },
      (g) => g.propose(command),
      options,
      retryOnTimeout,
    );
  }

  /** Proposes a membership change of `group` on its leader and waits until it is applied there. */
  changeMembership(group: GroupId, change: ConfChange, options: RequestOptions = {}): Promise<unknown> {
    return this.onLeader(
      group,
      'confChange',
      { group, change },
      (g) => g.proposeConfChange(change),
      options,
      false,
    );
  }

  /** Asks the group's leader to hand leadership to `to`. */
  transferLeader(group: GroupId, to: NodeId, options: RequestOptions = {}): Promise<unknown> {
    return this.onLeader(
      group,
      'transfer',
      { group, to },
      async (g) => {
        g.transferLeadership(to);
        return { from: this.o.selfId, to };
      },
      options,
      true,
    );
  }

  /** The leader's view of a group (progress of every member): from the local leader or over RPC. */
  leaderStatus(group: GroupId, options: RequestOptions = {}): Promise<unknown> {
    return this.onLeader(group, 'groupStatus', { group }, async (g) => g.status(), options, true);
  }

  async read(
    group: GroupId,
    query: Query,
    consistency: ReadConsistency = 'linearizable',
    options: RequestOptions = {},
  ): Promise<unknown> {
    validateQuery(query);
    const timeoutMs = options.timeoutMs ?? this.o.requestTimeoutMs;
    const deadline = performance.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const g = this.replica(group);
      try {
        if (g && consistency !== 'stale') {
          await withTimeout(
            g.readBarrier(consistency === 'lease'),
            deadline - performance.now(),
            group,
            'read index',
          );
        }
        if (g) return runQuery(g.stateMachine as never, query);
        throw new NotLeaderError(group, 0);
      } catch (error) {
        if (!isRetryable(error) || performance.now() + 1 >= deadline) throw error;
        await sleep(Math.min(backoffMs(this.o.backoff, attempt), Math.max(1, deadline - performance.now())));
      }
    }
  }

  private replica(group: GroupId): RaftGroup | undefined {
    const g = this.o.host.get(group);
    if (!g && !this.o.knowsGroup(group)) throw new UnknownGroupError(group);
    return g;
  }

  /**
   * Runs `local` on this node when it leads `group`, else sends `op` to the leader. Retries (bounded by the
   * request timeout) while there is no leader, the leader moved, or (when safe) the attempt timed out.
   */
  private async onLeader<T>(
    group: GroupId,
    op: string,
    args: unknown,
    local: LeaderOp<T>,
    options: RequestOptions,
    retryOnTimeout: boolean,
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.o.requestTimeoutMs;
    const deadline = performance.now() + timeoutMs;
    let hint: NodeId = 0;
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - performance.now();
      try {
        const g = this.replica(group);
        if (g?.isLeader) return await withTimeout(local(g), remaining, group, op);
        const leader = hint || g?.leaderId || 0;
        if (leader === 0 || leader === this.o.selfId) throw new NotLeaderError(group, 0);
        return (await this.o.rpc.call(leader, op, args, Math.max(1, remaining), group)) as T;
      } catch (error) {
        const timedOut = error instanceof RequestTimeoutError;
        if (!isRetryable(error) || (timedOut && !retryOnTimeout) || performance.now() + 1 >= deadline)
          throw error;
        hint = error instanceof NotLeaderError && error.leaderHint !== this.o.selfId ? error.leaderHint : 0;
        await sleep(Math.min(backoffMs(this.o.backoff, attempt), Math.max(1, deadline - performance.now())));
      }
    }
  }

  /** Serves a forwarded request: only on the leader, never forwarded again (the caller retries with a hint). */
  async serveForwarded(op: string, args: Record<string, unknown>): Promise<unknown> {
    const group = String(args.group);
    const g = this.o.host.get(group);
    if (!g) throw new UnknownGroupError(group);
    if (!g.isLeader) throw new NotLeaderError(group, g.leaderId);
    switch (op) {
      case 'execute':
        return g.propose(args.command as Uint8Array);
      case 'confChange':
        return g.proposeConfChange(args.change as ConfChange);
      case 'transfer':
        g.transferLeadership(Number(args.to));
        return { from: this.o.selfId, to: Number(args.to) };
      case 'groupStatus':
        return g.status();
      default:
        throw new NotLeaderError(group, 0);
    }
  }
}

function hasSession(command: Uint8Array): boolean {
  try {
    return decodeSessionCommand(command).clientId !== '';
  } catch {
    return false;
  }
}
