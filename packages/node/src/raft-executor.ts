/**
 * Cluster mode of the `CommandExecutor`: a command is proposed on the group's leader (forwarded over the peer
 * links when the leader is another node), waits for commit and apply, and returns the state machine's result.
 * Requests to a group without a leader wait (bounded, with backoff) and retry instead of hanging.
 */
import { type ConfChange, type GroupId, type NodeId, NotLeaderError, type Status } from '@flotilla/core';
import { ProtocolError, RequestTimeoutError, UnknownGroupError } from './errors.ts';
import type { CommandExecutor, ReadConsistency, RequestOptions } from './executor.ts';
import type { GroupHandle } from './group-handle.ts';
import { type Query, validateQuery } from './queries.ts';
import { type BackoffSettings, backoffMs, sleep } from './retry.ts';
import type { NodeRpc } from './rpc.ts';
import { isRetryable } from './wire-errors.ts';

export interface RaftExecutorOptions {
  readonly selfId: NodeId;
  /** This node's replicas, by group. */
  readonly groups: ReadonlyMap<GroupId, GroupHandle>;
  readonly rpc: NodeRpc;
  readonly requestTimeoutMs: number;
  readonly backoff: BackoffSettings;
  /** Attempts per request (waiting for a leader, following hints), besides the time bound. */
  readonly attemptsMax: number;
  /** True when the catalog knows the group (its replica may still be starting here). */
  readonly knowsGroup: (group: GroupId) => boolean;
}

/** Shortest slice of a request's timeout given to one forwarded attempt. */
const ATTEMPT_MS_MIN = 500;

type LeaderOp<T> = (group: GroupHandle, remainingMs: number) => Promise<T>;

export class RaftExecutor implements CommandExecutor {
  constructor(private readonly o: RaftExecutorOptions) {}

  execute(group: GroupId, command: Uint8Array, options: RequestOptions = {}): Promise<unknown> {
    // Without a session a command whose outcome is unknown (timeout) must not be sent again.
    const retryOnTimeout = hasSession(command);
    return this.onLeader(
      group,
      'execute',
      { group, command },
      (g, ms) => g.propose(command, ms),
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
      (g, ms) => g.proposeConfChange(change, ms),
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
      (g, ms) => g.transferLeadership(to, ms),
      options,
      true,
    );
  }

  /** The leader's view of a group (progress of every member): from the local leader or over RPC. */
  leaderStatus(group: GroupId, options: RequestOptions = {}): Promise<Status> {
    return this.onLeader(group, 'groupStatus', { group }, (g, ms) => g.status(ms), options, true);
  }

  async read(
    group: GroupId,
    query: Query,
    consistency: ReadConsistency = 'linearizable',
    options: RequestOptions = {},
  ): Promise<unknown> {
    validateQuery(query);
    const deadline = performance.now() + (options.timeoutMs ?? this.o.requestTimeoutMs);
    for (let attempt = 0; ; attempt++) {
      try {
        const g = this.replica(group);
        if (!g) throw new NotLeaderError(group, 0);
        // Followers confirm through the leader (ReadIndex is forwarded by the core); no RPC needed.
        return await g.read(query, consistency, deadline - performance.now());
      } catch (error) {
        if (!isRetryable(error) || performance.now() + 1 >= deadline || attempt + 1 >= this.o.attemptsMax)
          throw error;
        await sleep(Math.min(backoffMs(this.o.backoff, attempt), Math.max(1, deadline - performance.now())));
      }
    }
  }

  private replica(group: GroupId): GroupHandle | undefined {
    const g = this.o.groups.get(group);
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
    const deadline = performance.now() + (options.timeoutMs ?? this.o.requestTimeoutMs);
    let hint: NodeId = 0;
    for (let attempt = 0; ; attempt++) {
      const remaining = Math.max(1, deadline - performance.now());
      try {
        const g = this.replica(group);
        const leader = g?.isLeader ? this.o.selfId : hint || g?.leaderId || 0;
        if (leader === this.o.selfId && g) return await local(g, remaining);
        if (leader === 0 || leader === this.o.selfId) throw new NotLeaderError(group, 0);
        // A forwarded attempt gets a slice of the time left: an unresponsive leader must not use up the call.
        const slice = Math.min(remaining, Math.max(ATTEMPT_MS_MIN, this.o.requestTimeoutMs / 3));
        return (await this.o.rpc.call(leader, op, args, slice, group)) as T;
      } catch (error) {
        const timedOut = error instanceof RequestTimeoutError;
        // A leader that does not answer may be frozen or cut off: wake the local replica (an idle group
        // sleeps until the transport reports a peer unreachable) so that its timers can elect another.
        if (timedOut) this.o.groups.get(group)?.suspect(hint || this.o.groups.get(group)?.leaderId || 0);
        if (!isRetryable(error) || (timedOut && !retryOnTimeout) || performance.now() + 1 >= deadline)
          throw error;
        hint = error instanceof NotLeaderError && error.leaderHint !== this.o.selfId ? error.leaderHint : 0;
        await sleep(Math.min(backoffMs(this.o.backoff, attempt), Math.max(1, deadline - performance.now())));
      }
    }
  }

  /** Serves a forwarded request: only on the leader, never forwarded again (the caller retries with a hint). */
  serveForwarded(op: string, args: Record<string, unknown>): Promise<unknown> {
    const group = String(args.group);
    const g = this.o.groups.get(group);
    if (!g) throw new UnknownGroupError(group);
    const timeoutMs = this.o.requestTimeoutMs;
    switch (op) {
      case 'execute':
        return g.propose(args.command as Uint8Array, timeoutMs);
      case 'confChange':
        return g.proposeConfChange(args.change as ConfChange, timeoutMs);
      case 'transfer':
        return g.transferLeadership(Number(args.to), timeoutMs);
      case 'groupStatus':
        return g.status(timeoutMs).then((s) => {
          if (s.role !== 'leader') throw new NotLeaderError(group, s.leaderId);
          return s;
        });
      default:
        throw new ProtocolError(`unknown forwarded operation ${op}`);
    }
  }
}

/**
 * Whether a command carries a client session, read from its first bytes without decoding it: a session
 * envelope is a msgpack array starting with the client id (`[clientId, sequence, …]`), and no session is the empty id (0xa0).
 */
function hasSession(command: Uint8Array): boolean {
  return command[0] !== undefined && (command[0] & 0xf0) === 0x90 && command[1] !== 0xa0;
}
