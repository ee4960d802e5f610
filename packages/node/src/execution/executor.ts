/**
 * The executor: how a command or query reaches its group, the same with one node or many. It resolves the
 * target (a group, or a key's shard), checks the group runs the kind asked for and that this node has its
 * code, validates the call against the schema (one place, before anything is proposed), then runs it on the
 * local replica when it leads — or forwards it to the leader over the `rpc` channel — retrying within the
 * request's deadline while there is no leader or the leader moved. It is the `CallPort` of the node's `Calls`.
 */
import {
  type CallOptions,
  type CallPort,
  type CommandRequest,
  checkCall,
  type Fence,
  fromWireError,
  groupOfTarget,
  isRetryable,
  type QueryRequest,
  type ReadConsistency,
  RequestTimeoutError,
  type RetryPolicy,
  retrying,
  type Session,
  type ShardSetSpec,
  UnknownEntityError,
  UnknownGroupError,
  UnknownKindError,
  WrongKindError,
} from '@flotilla/app';
import {
  assertNever,
  type ConfChange,
  type GroupId,
  type NodeId,
  NotLeaderError,
  type Status,
} from '@flotilla/core';
import type { Outcome } from '../machines/outcome.ts';
import type { Registry } from '../machines/registry.ts';
import type { ProposeRequest } from '../replicas/replica.ts';
import type { ReplicaHandle } from '../replicas/replica-handle.ts';
import type { ExecutorRequest, NodeRequest, NodeRpc } from './node-rpc.ts';

export interface ExecutorOptions {
  readonly selfId: NodeId;
  /** This node's replicas, by group. */
  readonly replicas: ReadonlyMap<GroupId, ReplicaHandle>;
  readonly rpc: NodeRpc;
  readonly registry: Registry;
  /** The kind the catalog records for `group` (undefined: no such group). */
  readonly kindOf: (group: GroupId) => string | undefined;
  readonly shards: () => readonly ShardSetSpec[];
  readonly requestTimeoutMs: number;
  readonly retry: RetryPolicy;
}

/** Shortest slice of a request's timeout given to one forwarded attempt. */
const ATTEMPT_MS_MIN = 500;

type OnLeader<T> = (replica: ReplicaHandle, remainingMs: number) => Promise<T>;

export class Executor implements CallPort {
  constructor(private readonly o: ExecutorOptions) {}

  /** The group a target names, after checking it runs `kind` and this node has the kind's code. */
  groupFor(target: CommandRequest['target'], kind: string): GroupId {
    const group = groupOfTarget(target, kind, this.o.shards());
    const actual = this.o.kindOf(group);
    if (actual === undefined) throw new UnknownGroupError(group);
    if (actual !== kind) throw new WrongKindError(group, kind, actual);
    return group;
  }

  private machine(kind: string, group: GroupId) {
    const machine = this.o.registry.machine(kind);
    if (machine !== undefined) return machine;
    if (kind.startsWith('entity:')) throw new UnknownEntityError(kind.slice('entity:'.length));
    throw new UnknownKindError(kind, group);
  }

  async command(request: CommandRequest, options: CallOptions = {}): Promise<unknown> {
    const group = this.groupFor(request.target, request.kind);
    const { payload } = checkCall(this.machine(request.kind, group), 'command', request.payload);
    const outcome = await this.propose(
      group,
      { call: payload, ...sessionAndFence(request.session, request.fence) },
      options,
    );
    return settle(outcome as Outcome);
  }

  async query(request: QueryRequest, options: CallOptions = {}): Promise<unknown> {
    const group = this.groupFor(request.target, request.kind);
    const { name, input } = checkCall(this.machine(request.kind, group), 'query', request.payload);
    return this.runQuery(group, name, input, request.consistency, options);
  }

  /** Proposes a validated command on `group`'s leader; resolves with its outcome. */
  propose(group: GroupId, request: ProposeRequest, options: CallOptions = {}): Promise<unknown> {
    const remote: NodeRequest = {
      type: 'command',
      group,
      call: request.call,
      ...(request.session
        ? {
            session: [request.session.clientId, request.session.sequence, request.session.ackedBelow] as [
              string,
              number,
              number,
            ],
          }
        : {}),
      ...(request.fence ? { fence: [request.fence.group, request.fence.term] as [string, number] } : {}),
    };
    // Without a session a command whose outcome is unknown (a timeout) must not be sent again.
    return this.onLeader(
      group,
      remote,
      (r, ms) => r.propose(request, ms),
      options,
      request.session !== undefined,
    );
  }

  /**
   * Answers a query on the local replica: a follower confirms through its leader (ReadIndex is forwarded by
   * the core), `stale` reads as it is. A node without a replica of the group asks the leader.
   */
  private runQuery(
    group: GroupId,
    name: string,
    input: unknown,
    consistency: ReadConsistency,
    options: CallOptions,
  ): Promise<unknown> {
    const deadline = performance.now() + (options.timeoutMs ?? this.o.requestTimeoutMs);
    return retrying(
      deadline,
      this.o.retry,
      async (_n, remainingMs) => {
        const replica = this.o.replicas.get(group);
        if (replica !== undefined) return replica.query(name, input, consistency, remainingMs);
        return this.onLeader(
          group,
          { type: 'query', group, name, input, consistency },
          (r, ms) => r.query(name, input, consistency, ms),
          { timeoutMs: remainingMs },
          true,
        );
      },
      (error) => isRetryable(error, true),
    );
  }

  /** Proposes a membership change of `group` on its leader and waits until it is applied there. */
  changeMembership(group: GroupId, change: ConfChange, options: CallOptions = {}): Promise<unknown> {
    return this.onLeader(
      group,
      { type: 'confChange', group, change: change as never },
      (r, ms) => r.proposeConfChange(change, ms),
      options,
      false,
    );
  }

  /** Asks the group's leader to hand leadership to `to`. */
  transferLeader(group: GroupId, to: NodeId, options: CallOptions = {}): Promise<unknown> {
    return this.onLeader(
      group,
      { type: 'transfer', group, to },
      (r, ms) => r.transferLeadership(to, ms),
      options,
      true,
    );
  }

  /** The leader's view of a group (progress of every member): from the local leader or over RPC. */
  leaderStatus(group: GroupId, options: CallOptions = {}): Promise<Status> {
    return this.onLeader(
      group,
      { type: 'leaderStatus', group },
      (r, ms) => r.status(ms),
      options,
      true,
    ) as Promise<Status>;
  }

  /**
   * Runs `local` when this node leads `group`, else sends `remote` to the leader. Retries (bounded by the
   * request timeout) while there is no leader, the leader moved, or (when `retryTimeouts`) an attempt timed out.
   */
  private onLeader<T>(
    group: GroupId,
    remote: NodeRequest,
    local: OnLeader<T>,
    options: CallOptions,
    retryTimeouts: boolean,
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.o.requestTimeoutMs;
    const deadline = performance.now() + timeoutMs;
    let hint: NodeId = 0;
    return retrying(
      deadline,
      this.o.retry,
      async (_n, remainingMs) => {
        const r = this.o.replicas.get(group);
        if (r === undefined && this.o.kindOf(group) === undefined) throw new UnknownGroupError(group);
        const leader = r?.isLeader ? this.o.selfId : hint || r?.leaderId || 0;
        if (leader === this.o.selfId && r) return local(r, remainingMs);
        if (leader === 0 || leader === this.o.selfId) throw new NotLeaderError(group, 0);
        // A forwarded attempt gets a slice of the time left: an unresponsive leader must not use up the call.
        const slice = Math.min(remainingMs, Math.max(ATTEMPT_MS_MIN, this.o.requestTimeoutMs / 3));
        return (await this.o.rpc.call(leader, remote, slice)) as T;
      },
      (error) => {
        // A leader that does not answer may be frozen or cut off: wake the local replica (an idle group
        // sleeps until the transport reports a peer unreachable) so that its timers can elect another.
        if (error instanceof RequestTimeoutError) {
          const r = this.o.replicas.get(group);
          r?.suspect(hint || r.leaderId);
        }
        hint = error instanceof NotLeaderError && error.leaderHint !== this.o.selfId ? error.leaderHint : 0;
        return isRetryable(error, retryTimeouts);
      },
    );
  }

  /** Serves another node's request: only on the leader (never forwarded again; the caller follows hints). */
  serve(request: ExecutorRequest): Promise<unknown> {
    const timeoutMs = this.o.requestTimeoutMs;
    if (request.type === 'ping') return Promise.resolve({ id: this.o.selfId });
    const r = this.o.replicas.get(request.group);
    if (r === undefined) return Promise.reject(new UnknownGroupError(request.group));
    switch (request.type) {
      case 'command':
        return r.propose(
          {
            call: request.call,
            ...(request.session
              ? {
                  session: {
                    clientId: request.session[0],
                    sequence: request.session[1],
                    ackedBelow: request.session[2],
                  },
                }
              : {}),
            ...(request.fence ? { fence: { group: request.fence[0], term: request.fence[1] } } : {}),
          },
          timeoutMs,
        );
      case 'query':
        return r.query(request.name, request.input, request.consistency, timeoutMs);
      case 'confChange':
        return r.proposeConfChange(request.change as ConfChange, timeoutMs);
      case 'transfer':
        return r.transferLeadership(request.to, timeoutMs);
      case 'leaderStatus':
        return r.status(timeoutMs).then((s) => {
          if (s.role !== 'leader') throw new NotLeaderError(request.group, s.leaderId);
          return s;
        });
      default:
        return assertNever(request);
    }
  }
}

function sessionAndFence(session: Session | undefined, fence: Fence | undefined): Partial<ProposeRequest> {
  return { ...(session ? { session } : {}), ...(fence ? { fence } : {}) };
}

/** A command's outcome as its caller sees it: the value, or the typed error thrown. */
export function settle(outcome: Outcome | undefined): unknown {
  if (outcome === undefined) return undefined;
  if (outcome.ok) return outcome.value;
  throw fromWireError(outcome.error);
}
