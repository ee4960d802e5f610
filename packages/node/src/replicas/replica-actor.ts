/**
 * The replica actor: one replica of one group, living on a host thread or on the main thread. It loads the
 * group's machine kind from the thread's registry, builds the `Replica` over the thread's storage, ticks it
 * from the thread's shared ticker and processes its Ready in the thread's group-commit batch. A restart
 * (supervision) rebuilds the replica from storage, exactly as after a crash.
 *
 * One path each way per placement: on a host thread everything goes through this actor and the main
 * thread's router; on the main thread the node's handle calls the replica directly and the replica talks to
 * the node directly (`LocalLinks`), with no mailbox hop either way.
 */
import { isMainThread } from 'node:worker_threads';
import { type Actor, type ActorContext, type ActorRef, type Ask, actorKind } from '@flotilla/actors';
import { type ReadConsistency, toWireError, UnknownKindError, type WireError } from '@flotilla/app';
import {
  assertNever,
  bootstrapStorage,
  type ConfChange,
  encodeMessage,
  type GroupId,
  isStorageEmpty,
  type NodeId,
  type SnapshotMeta,
  type Status,
} from '@flotilla/core';
import type { NodeStorage } from '@flotilla/storage-lmdb';
import type { CatalogGroup } from '../cluster/catalog.ts';
import type { Backend } from '../machines/backend.ts';
import { type DivergenceReport, MachineInstance } from '../machines/machine-instance.ts';
import { MemoryBackend } from '../machines/memory-backend.ts';
import { type AppRef, type KvState, loadRegistry } from '../machines/registry.ts';
import type { SessionLimits } from '../machines/sessions.ts';
import { StoreBackend } from '../machines/store-backend.ts';
import type { NodeConfig, RaftSettings } from '../operations/config.ts';
import type { ChangeBatch } from '../watch/feed.ts';
import { type ProposeRequest, Replica, type ReplicaIo } from './replica.ts';
import {
  groupCommit,
  releaseLogStore,
  releaseStateStore,
  threadLogStore,
  threadStateStore,
} from './thread-storage.ts';

/** Answers of replica asks: errors travel as wire errors so their type and fields survive the thread hop. */
export type ReplicaReply<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: WireError };

/** A replica's Raft status plus what the node shows of its machine and actor. */
export type ReplicaStatus = Status & {
  readonly kind: string;
  readonly mailboxDepth: number;
  readonly outcomeHash: { readonly hash: string; readonly index: number };
  readonly divergence: DivergenceReport | undefined;
};

/** Test-only faults: fail the actor, kill its host thread, or fail its next durable write. */
export type ReplicaFault = 'crash-actor' | 'exit-thread' | 'fail-storage';

export type ReplicaMessage =
  | { readonly type: 'tick' }
  | { readonly type: 'raft'; readonly payload: Uint8Array }
  | { readonly type: 'stageSnapshot'; readonly meta: SnapshotMeta; readonly data: Uint8Array }
  | { readonly type: 'unreachable'; readonly peer: NodeId }
  /** The replica failed outside the actor (a direct call from the main thread): fail so that it restarts. */
  | { readonly type: 'failed'; readonly reason: string }
  /** Test-only faults (sent only when fault injection is enabled): fail this actor, or kill its thread. */
  | { readonly type: 'fault'; readonly kind: ReplicaFault }
  | Ask<{ readonly type: 'propose'; readonly request: ProposeRequest }, ReplicaReply<unknown>>
  | Ask<{ readonly type: 'confChange'; readonly change: ConfChange }, ReplicaReply<unknown>>
  | Ask<
      {
        readonly type: 'query';
        readonly name: string;
        readonly input: unknown;
        readonly consistency: ReadConsistency;
      },
      ReplicaReply<unknown>
    >
  | Ask<{ readonly type: 'transfer'; readonly to: NodeId }, ReplicaReply<null>>
  | Ask<{ readonly type: 'status' }, ReplicaReply<ReplicaStatus>>;

/** What replicas on host threads tell the main thread's router. */
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
      ReplicaReply<null>
    >
  | { readonly type: 'leader'; readonly group: GroupId; readonly leaderId: NodeId; readonly term: number }
  | { readonly type: 'diverged'; readonly report: DivergenceReport }
  /** What a batch applied (the node's watches): every applied batch, so that progress is exact. */
  | { readonly type: 'changes'; readonly group: GroupId; readonly batch: ChangeBatch }
  /** The replica's applied index was set without applying (start, snapshot). */
  | { readonly type: 'position'; readonly group: GroupId; readonly index: number }
  /** A durable write of the replica failed (it restarts from disk): the node counts it and raises an alarm. */
  | { readonly type: 'storageFailed'; readonly group: GroupId; readonly error: string };

/** The node's side of a main-thread replica: direct calls both ways (props of main-thread actors are not cloned). */
export interface LocalLinks {
  attach(replica: Replica | undefined): void;
  send(to: NodeId, group: GroupId, payload: Uint8Array): void;
  sendSnapshot(to: NodeId, group: GroupId, meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  leaderChanged(group: GroupId, leaderId: NodeId, term: number): void;
  diverged(report: DivergenceReport): void;
  /** What each applied batch changed, and jumps of the applied index (the node's watches). */
  changes(group: GroupId, batch: ChangeBatch): void;
  position(group: GroupId, index: number): void;
  storageFailed(group: GroupId, error: string): void;
  /** After every batch the replica applied (the catalog's node reconciles from here). */
  readonly applied: (() => void) | undefined;
}

export interface MachineSettings {
  readonly sessions: SessionLimits;
  /**
   * Store machines commit their applied writes every this many ms, every group of a thread in one LMDB
   * transaction (the log is kept until then); 0 commits each applied batch on its own.
   */
  readonly stateCommitMs: number;
  /** Outcome-hash checkpoints every this many log indices (divergence detection). */
  readonly checkpointEntries: number;
  /** Where the built-in KV keeps its entries. */
  readonly kvState: KvState;
}

export interface ReplicaProps {
  readonly nodeId: NodeId;
  readonly spec: CatalogGroup;
  readonly app: AppRef | undefined;
  readonly dataDir: string;
  readonly storage: NodeConfig['storage'];
  readonly raft: RaftSettings;
  readonly machines: MachineSettings;
  readonly requestTimeoutMs: number;
  readonly initialCommands: readonly Uint8Array[];
  /** Host-thread replicas: where messages for other nodes go. */
  readonly router?: ActorRef<RouterMessage>;
  /** Main-thread replicas: the node itself. */
  readonly local?: LocalLinks;
}

/** Bound on streaming one snapshot to a follower (a large state over a slow link). */
const SNAPSHOT_SEND_TIMEOUT_MS = 600_000;

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) >>> 0;
  return h;
}

export class ReplicaActor implements Actor<ReplicaMessage> {
  private replica: Replica | undefined;
  private stateStore: NodeStorage | undefined;

  constructor(private readonly props: ReplicaProps) {}

  async preStart(ctx: ActorContext<ReplicaMessage>): Promise<void> {
    const p = this.props;
    const registry = await loadRegistry(p.app, p.machines.kvState);
    const definition = registry.machine(p.spec.kind);
    if (definition === undefined) throw new UnknownKindError(p.spec.kind, p.spec.id);
    const storage = (await threadLogStore(p.dataDir, p.nodeId, p.storage, p.machines.stateCommitMs)).group(
      p.spec.id,
    );
    if (p.spec.founders.includes(p.nodeId) && isStorageEmpty(storage, storage)) {
      await bootstrapStorage(storage, storage, p.spec.founders, p.initialCommands);
    }
    let backend: Backend;
    if (definition.state.storage === 'store') {
      const store = await threadStateStore(p.dataDir, p.nodeId, p.machines.stateCommitMs);
      this.stateStore = store;
      backend = new StoreBackend((apply) => store.kvStateMachine(p.spec.id, apply), p.machines.sessions);
    } else {
      backend = new MemoryBackend(definition.state, p.machines.sessions);
    }
    const io = this.io(ctx);
    let replica: Replica | undefined;
    const machine = new MachineInstance({
      group: p.spec.id,
      machine: definition,
      backend,
      checkpointEntries: p.machines.checkpointEntries,
      onCheckpoint: (index, value) => replica?.proposeCheckpoint(index, value),
      onDivergence: (report) => replica && io.diverged?.(replica, report),
      onApplied: () => p.local?.applied?.(),
      onChanges: (through, events, timestampMs) => io.changes({ through, events, timestampMs }),
      onPosition: (index) => io.position(index),
    });
    replica = new Replica({
      nodeId: p.nodeId,
      group: p.spec.id,
      storage,
      machine,
      raft: raftConfig(p),
      snapshotEntries: p.raft.snapshotEntries,
      compactionMarginEntries: p.raft.compactionMarginEntries,
      requestTimeoutMs: p.requestTimeoutMs,
      tickMs: p.raft.tickMs,
      logger: ctx.log,
      io,
    });
    this.replica = replica;
    ctx.ticker.subscribe({ type: 'tick' });
    p.local?.attach(replica);
  }

  /** How the replica reaches the rest of the node: directly on the main thread, through the router elsewhere. */
  private io(ctx: ActorContext<ReplicaMessage>): ReplicaIo & {
    changes(batch: ChangeBatch): void;
    position(index: number): void;
  } {
    const p = this.props;
    const group = p.spec.id;
    const local = p.local;
    const schedule = (r: Replica) => groupCommit.schedule(r);
    if (local !== undefined) {
      return {
        send: (to, message) => local.send(to, group, encodeMessage(message)),
        sendSnapshot: (to, meta, data) => local.sendSnapshot(to, group, meta, data),
        schedule,
        leaderChanged: (_r, leaderId, term) => local.leaderChanged(group, leaderId, term),
        diverged: (_r, report) => local.diverged(report),
        changes: (batch) => local.changes(group, batch),
        position: (index) => local.position(group, index),
        storageFailed: (_r, error) => {
          local.storageFailed(group, error.message);
          ctx.tell(ctx.self, { type: 'failed', reason: `storage: ${error.message}` });
        },
      };
    }
    const router = p.router;
    if (router === undefined) throw new TypeError(`replica ${group} has neither a router nor local links`);
    return {
      // Encoded once here; the router forwards the bytes without decoding them. A copy: msgpackr's output
      // shares a pooled buffer, and this crosses threads.
      send: (to, message) =>
        ctx.tell(router, { type: 'send', to, group, payload: encodeMessage(message).slice() }),
      sendSnapshot: async (to, meta, data) => {
        const reply = await ctx.ask(
          router,
          { type: 'sendSnapshot', to, group, meta, data },
          { timeoutMs: SNAPSHOT_SEND_TIMEOUT_MS },
        );
        if (!reply.ok) throw new Error(reply.error.message);
      },
      schedule,
      leaderChanged: (_r, leaderId, term) => ctx.tell(router, { type: 'leader', group, leaderId, term }),
      diverged: (_r, report) => ctx.tell(router, { type: 'diverged', report }),
      changes: (batch) => ctx.tell(router, { type: 'changes', group, batch }),
      position: (index) => ctx.tell(router, { type: 'position', group, index }),
      storageFailed: (_r, error) => {
        ctx.tell(router, { type: 'storageFailed', group, error: error.message });
        ctx.tell(ctx.self, { type: 'failed', reason: `storage: ${error.message}` });
      },
    };
  }

  receive(message: ReplicaMessage, ctx: ActorContext<ReplicaMessage>): void {
    const r = this.replica;
    if (!r) return;
    switch (message.type) {
      case 'tick':
        r.tick();
        return;
      case 'raft':
        r.deliver(message.payload);
        return;
      case 'stageSnapshot':
        r.stageSnapshot(message.meta, message.data);
        return;
      case 'unreachable':
        r.reportUnreachable(message.peer);
        return;
      case 'failed':
        throw new Error(`replica ${r.id} failed: ${message.reason}`);
      case 'fault':
        if (message.kind === 'fail-storage') {
          r.failNextWrite();
          return;
        }
        if (message.kind === 'crash-actor') throw new Error(`injected failure of the ${r.id} replica`);
        // process.exit in a worker ends that thread only; on the main thread it would end the node: refuse.
        if (!isMainThread) process.exit(1);
        return;
      case 'propose':
        answer(ctx, message, r.propose(message.request));
        return;
      case 'confChange':
        answer(ctx, message, r.proposeConfChange(message.change));
        return;
      case 'query':
        answer(
          ctx,
          message,
          attempt(() => r.query(message.name, message.input, message.consistency)),
        );
        return;
      case 'transfer':
        answer(
          ctx,
          message,
          attempt(async () => {
            r.transferLeadership(message.to);
            return null;
          }),
        );
        return;
      case 'status':
        ctx.reply(message, { ok: true, value: replicaStatus(r, ctx.mailboxSize) });
        return;
      default:
        assertNever(message);
    }
  }

  async postStop(): Promise<void> {
    const r = this.replica;
    if (!r) return;
    this.replica = undefined;
    this.props.local?.attach(undefined);
    r.stop();
    groupCommit.forget(r);
    const store = this.stateStore;
    this.stateStore = undefined;
    if (store) {
      await store.releaseKvStateMachine(r.id);
      await releaseStateStore(store);
    }
    await releaseLogStore(this.props.dataDir);
  }

  async preRestart(): Promise<void> {
    await this.postStop();
  }
}

export function replicaStatus(r: Replica, mailboxDepth: number): ReplicaStatus {
  return {
    ...r.status(),
    kind: r.machine.kind,
    mailboxDepth,
    outcomeHash: r.machine.outcomeHash,
    divergence: r.machine.divergence,
  };
}

function raftConfig(p: ReplicaProps) {
  const r = p.raft;
  return {
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
  };
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
  ctx: ActorContext<ReplicaMessage>,
  message: ReplicaMessage & { type: string },
  promise: Promise<T>,
): void {
  const pending = ctx.replyLater(message as never) as { resolve(value: ReplicaReply<unknown>): void };
  promise.then(
    (value) => pending.resolve({ ok: true, value }),
    (error: unknown) => pending.resolve({ ok: false, error: toWireError(error) }),
  );
}

export const ReplicaKind = actorKind<typeof ReplicaActor>(import.meta.url, 'ReplicaActor');
