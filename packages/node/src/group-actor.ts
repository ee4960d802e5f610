/**
 * The Raft group actor: one replica of one group, living on a host thread (or the main thread). It owns a
 * `RaftGroup` over the thread's storage, ticks from the thread's shared ticker, processes its Ready in the
 * thread's group-commit batch, and talks to the main thread's router for everything that leaves the process.
 * A restart (supervision) rebuilds the replica from storage, exactly as after a crash.
 */

import { isMainThread } from 'node:worker_threads';
import { type Actor, type ActorContext, type ActorRef, type Ask, actorKind } from '@flotilla/actors';
import {
  bootstrapStorage,
  type ConfChange,
  encodeMessage,
  type GroupId,
  isStorageEmpty,
  MemoryKvStateMachine,
  type Message,
  type NodeId,
  type SnapshotMeta,
  type StateMachine,
  type Status,
} from '@flotilla/core';
import type { CatalogStateMachine } from './catalog.ts';
import type { NodeConfig, RaftSettings } from './config.ts';
import type { ReadConsistency } from './executor.ts';
import type { CatalogGroup } from './layout.ts';
import type { Query } from './queries.ts';
import { RaftGroup } from './raft-group.ts';
import {
  groupCommit,
  mainThreadReplicas,
  releaseLogStore,
  replicaKey,
  threadLogStore,
} from './thread-context.ts';
import { toWireError, type WireError } from './wire-errors.ts';

/** Answers of group asks: errors travel as wire errors so their type and fields survive the thread hop. */
export type GroupReply<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: WireError };

export type GroupMessage =
  | { readonly type: 'tick' }
  | { readonly type: 'raft'; readonly payload: Uint8Array }
  | { readonly type: 'stageSnapshot'; readonly meta: SnapshotMeta; readonly data: Uint8Array }
  | { readonly type: 'unreachable'; readonly peer: NodeId }
  /** The replica failed outside the actor (a direct call from the main thread): fail so that it restarts. */
  | { readonly type: 'failed'; readonly reason: string }
  /** Test-only faults (sent only when fault injection is enabled): fail this actor, or kill its thread. */
  | { readonly type: 'fault'; readonly kind: 'crash-actor' | 'exit-thread' }
  | Ask<{ readonly type: 'propose'; readonly data: Uint8Array }, GroupReply<unknown>>
  | Ask<{ readonly type: 'confChange'; readonly change: ConfChange }, GroupReply<unknown>>
  | Ask<
      { readonly type: 'read'; readonly query: Query; readonly consistency: ReadConsistency },
      GroupReply<unknown>
    >
  | Ask<{ readonly type: 'transfer'; readonly to: NodeId }, GroupReply<null>>
  | Ask<{ readonly type: 'status' }, GroupReply<ReplicaStatus>>;

/** A replica's Raft status plus its actor's mailbox depth. */
export type ReplicaStatus = Status & { readonly mailboxDepth: number };

/** What group actors tell the main thread's router. */
export type RouterMessage =
  | { readonly type: 'send'; readonly to: NodeId; readonly group: GroupId; readonly payload: Uint8Array }
  | Ask<
      {
        readonly type: 'sendSnapshot';
        readonly to: NodeId;
        readonly group: GroupId;
        readonly meta: SnapshotMeta;
        readonly data: Uint8Array;
      },
      GroupReply<null>
    >
  | { readonly type: 'leader'; readonly group: GroupId; readonly leaderId: NodeId; readonly term: number };

export interface GroupActorProps {
  readonly nodeId: NodeId;
  readonly spec: CatalogGroup;
  readonly dataDir: string;
  readonly storage: NodeConfig['storage'];
  readonly raft: RaftSettings;
  readonly requestTimeoutMs: number;
  readonly initialCommands: readonly Uint8Array[];
  readonly router: ActorRef<RouterMessage>;
  /** Only for the catalog group, which lives on the main thread: its state machine object. */
  readonly catalog?: CatalogStateMachine;
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) >>> 0;
  return h;
}

export class RaftGroupActor implements Actor<GroupMessage> {
  private group: RaftGroup | undefined;

  constructor(private readonly props: GroupActorProps) {}

  async preStart(ctx: ActorContext<GroupMessage>): Promise<void> {
    const p = this.props;
    const storage = (await threadLogStore(p.dataDir, p.nodeId, p.storage)).group(p.spec.id);
    if (p.spec.founders.includes(p.nodeId) && isStorageEmpty(storage, storage)) {
      await bootstrapStorage(storage, storage, p.spec.founders, p.initialCommands);
    }
    const stateMachine: StateMachine<unknown> =
      p.spec.kind === 'catalog' && p.catalog ? p.catalog : new MemoryKvStateMachine();
    const r = p.raft;
    const router = p.router;
    this.group = new RaftGroup({
      nodeId: p.nodeId,
      group: p.spec.id,
      storage,
      stateMachine,
      raft: {
        electionTicks: r.electionTicks,
        heartbeatTicks: r.heartbeatTicks,
        preVote: r.preVote,
        checkQuorum: r.checkQuorum,
        readOnly: r.readOnly,
        appendBytesMax: r.appendBytesMax,
        inflightMessagesMax: r.inflightMessagesMax,
        uncommittedBytesMax: r.uncommittedBytesMax,
        quiesce: r.quiesce,
        readiesInFlightMax: r.readiesInFlight,
        random: (p.nodeId * 0x9e3779b1 + hash(p.spec.id)) >>> 0,
      },
      snapshotEntries: r.snapshotEntries,
      compactionMarginEntries: r.compactionMarginEntries,
      requestTimeoutMs: p.requestTimeoutMs,
      tickMs: r.tickMs,
      logger: { info: () => {}, warn: () => {}, error: () => {} },
      io: {
        send: (to, message) =>
          ctx.tell(router, { type: 'send', to, group: p.spec.id, payload: encodeForWire(message) }),
        sendSnapshot: async (to, meta, data) => {
          const reply = await ctx.ask(
            router,
            { type: 'sendSnapshot', to, group: p.spec.id, meta, data },
            { timeoutMs: 600_000 },
          );
          if (!reply.ok) throw new Error(reply.error.message);
        },
        schedule: (g) => groupCommit.schedule(g),
        leaderChanged: (_g, leaderId, term) =>
          ctx.tell(router, { type: 'leader', group: p.spec.id, leaderId, term }),
      },
    });
    ctx.ticker.subscribe({ type: 'tick' });
    if (isMainThread) mainThreadReplicas.set(replicaKey(p.nodeId, p.spec.id), this.group);
  }

  receive(message: GroupMessage, ctx: ActorContext<GroupMessage>): void {
    const g = this.group;
    if (!g) return;
    switch (message.type) {
      case 'tick':
        g.tick();
        return;
      case 'raft':
        g.deliver(message.payload);
        return;
      case 'stageSnapshot':
        g.stageSnapshot(message.meta, message.data);
        return;
      case 'unreachable':
        g.reportUnreachable(message.peer);
        return;
      case 'failed':
        throw new Error(`replica ${g.id} failed: ${message.reason}`);
      case 'fault':
        if (message.kind === 'crash-actor') throw new Error(`injected failure of the ${g.id} replica`);
        // process.exit in a worker ends that thread only; on the main thread it would end the node: refuse.
        if (!isMainThread) process.exit(1);
        return;
      case 'propose':
        answer(ctx, message, g.propose(message.data));
        return;
      case 'confChange':
        answer(ctx, message, g.proposeConfChange(message.change));
        return;
      case 'read':
        answer(
          ctx,
          message,
          attempt(() => g.query(message.query, message.consistency)),
        );
        return;
      case 'transfer':
        answer(
          ctx,
          message,
          attempt(async () => {
            g.transferLeadership(message.to);
            return null;
          }),
        );
        return;
      case 'status':
        ctx.reply(message, { ok: true, value: { ...g.status(), mailboxDepth: ctx.mailboxSize } });
        return;
    }
  }

  async postStop(): Promise<void> {
    const g = this.group;
    if (!g) return;
    const key = replicaKey(this.props.nodeId, g.id);
    if (mainThreadReplicas.get(key) === g) mainThreadReplicas.delete(key);
    g.stop();
    groupCommit.forget(g);
    await releaseLogStore(this.props.dataDir);
  }

  async preRestart(): Promise<void> {
    await this.postStop();
  }
}

/** Runs `fn`, turning a synchronous throw into a rejected promise (an ask must never fail the actor). */
function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Replies to an ask once `promise` settles, with the error as wire data when it fails. */
function answer<T>(
  ctx: ActorContext<GroupMessage>,
  message: GroupMessage & { type: string },
  promise: Promise<T>,
): void {
  const pending = ctx.replyLater(message as never) as { resolve(value: GroupReply<unknown>): void };
  promise.then(
    (value) => pending.resolve({ ok: true, value }),
    (error: unknown) => pending.resolve({ ok: false, error: toWireError(error) }),
  );
}

/** Encoded once on the group's thread; the router forwards the bytes without decoding them. */
function encodeForWire(message: Message): Uint8Array {
  return encodeMessage(message).slice();
}

export const RaftGroupKind = actorKind<typeof RaftGroupActor>(import.meta.url, 'RaftGroupActor');
