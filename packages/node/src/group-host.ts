/**
 * Hosts the Raft group replicas of one thread: one tick timer drives them all, and every group's Ready of a
 * turn is processed in one batch so their LMDB writes share one transaction (the group commit).
 *
 *   input (deliver / propose / tick) ─▶ group.kick() ─▶ host.schedule(group) ─▶ one setImmediate per turn
 *        ─▶ processReady() of every scheduled group ─▶ writes issued together ─▶ one commit, one fsync
 */
import { encodeMessage, type GroupId, type Message, type NodeId, type SnapshotMeta } from '@flotilla/core';
import { type GroupLogger, RaftGroup, type RaftGroupOptions } from './raft-group.ts';

export interface GroupHostIo {
  /** Sends an encoded message of `group` to a peer (the transport batches per turn). */
  send(to: NodeId, group: GroupId, payload: Uint8Array): void;
  sendSnapshot(to: NodeId, group: GroupId, meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  leaderChanged?(group: RaftGroup, leaderId: NodeId, term: number): void;
  membershipChanged?(group: RaftGroup): void;
}

export interface GroupHostOptions {
  readonly tickMs: number;
  readonly io: GroupHostIo;
  readonly logger: GroupLogger;
}

export class GroupHost {
  readonly groups = new Map<GroupId, RaftGroup>();
  private readonly scheduled = new Set<RaftGroup>();
  private flushPending = false;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private readonly options: GroupHostOptions;
  /** Turns in which Readies were processed, and Readies processed (their ratio is the group-commit batch). */
  readonly counters = { turns: 0, readies: 0, ticks: 0 };

  constructor(options: GroupHostOptions) {
    this.options = options;
  }

  start(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => this.tick(), this.options.tickMs);
  }

  private tick(): void {
    this.counters.ticks++;
    for (const group of this.groups.values()) group.tick();
  }

  /** Creates a replica; `options.io` is filled in by the host. */
  add(options: Omit<RaftGroupOptions, 'io' | 'logger'>): RaftGroup {
    const existing = this.groups.get(options.group);
    if (existing) return existing;
    const io = this.options.io;
    const group = new RaftGroup({
      ...options,
      logger: this.options.logger,
      io: {
        send: (to: NodeId, message: Message) => io.send(to, options.group, encodeMessage(message)),
        sendSnapshot: (to, meta, data) => io.sendSnapshot(to, options.group, meta, data),
        schedule: (g) => this.schedule(g),
        leaderChanged: (g, leaderId, term) => io.leaderChanged?.(g, leaderId, term),
        membershipChanged: (g) => io.membershipChanged?.(g),
      },
    });
    this.groups.set(options.group, group);
    this.schedule(group);
    return group;
  }

  remove(id: GroupId): void {
    const group = this.groups.get(id);
    if (!group) return;
    group.stop();
    this.groups.delete(id);
    this.scheduled.delete(group);
  }

  get(id: GroupId): RaftGroup | undefined {
    return this.groups.get(id);
  }

  deliver(group: GroupId, payload: Uint8Array): boolean {
    const g = this.groups.get(group);
    if (!g) return false;
    g.deliver(payload);
    return true;
  }

  private schedule(group: RaftGroup): void {
    this.scheduled.add(group);
    if (this.flushPending) return;
    this.flushPending = true;
    setImmediate(() => this.processScheduled());
  }

  private processScheduled(): void {
    this.flushPending = false;
    const batch = [...this.scheduled];
    this.scheduled.clear();
    this.counters.turns++;
    for (const group of batch) {
      this.counters.readies++;
      group.processReady();
    }
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const group of this.groups.values()) group.stop();
    this.groups.clear();
    this.scheduled.clear();
  }
}
