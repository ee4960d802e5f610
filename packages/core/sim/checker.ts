/**
 * The simulator's safety oracle: election safety, log matching, leader completeness, state-machine safety,
 * exactly-once apply, no lost acknowledged write, and linearizable reads (Raft §5.2–5.4, thesis §6).
 * Each violation is recorded with a description; the simulator reports them with the seed.
 */
import { type Entry, EntryKind, type NodeId, type RaftNode } from '@flotilla/core';
import { decodeKvCommand, type KvResult } from './kv-machine.ts';

interface CommittedEntry {
  readonly term: number;
  readonly kind: EntryKind;
  readonly key: string;
}

export interface ReadRecord {
  readonly key: string;
  /** Index the value was read at (the replica's applied index when answering). */
  readonly servedIndex: number;
  /** Index of the write that produced the value read (0 = never written). */
  readonly writtenAt: number;
  /** Highest index of a write on `key` acknowledged before the read was invoked. */
  readonly ackedBeforeInvoke: number;
}

function entryKey(e: Entry): string {
  if (e.kind !== EntryKind.Normal || e.data.length === 0) return `${e.kind}:${e.data.length}`;
  const hex = Buffer.from(e.data).toString('base64');
  return hex;
}

export class SafetyChecker {
  readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** Every committed entry any replica reported, by index: all replicas must agree. */
  readonly committed = new Map<number, CommittedEntry>();
  committedMax = 0;
  /** First index at which each (client, sequence) took effect. */
  private readonly firstEffect = new Map<string, number>();
  /** Per key: indexes of effective writes, ascending (for checking read values). */
  private readonly writesByKey = new Map<string, number[]>();
  private readonly appliedUpTo = new Map<NodeId, number>();

  violation(what: string): void {
    if (this.violations.length < 20) this.violations.push(what);
  }

  /** Election safety (§5.2): at most one leader per term. */
  observeRole(node: NodeId, raft: RaftNode): void {
    if (raft.role !== 'leader') return;
    const known = this.leaderOfTerm.get(raft.term);
    if (known === undefined) {
      this.leaderOfTerm.set(raft.term, node);
      this.checkLeaderCompleteness(node, raft);
    } else if (known !== node) {
      this.violation(`election safety: nodes ${known} and ${node} both lead term ${raft.term}`);
    }
  }

  /** Leader completeness (§5.4): a new leader holds every committed entry (those not compacted away). */
  private checkLeaderCompleteness(node: NodeId, raft: RaftNode): void {
    const first = raft.status().firstIndex;
    for (let i = Math.max(first, 1); i <= this.committedMax; i++) {
      const c = this.committed.get(i);
      if (!c) continue;
      const t = raft.logTerm(i);
      if (t !== c.term) {
        this.violation(
          `leader completeness: leader ${node} of term ${raft.term} has term ${t} at committed index ${i} (want ${c.term})`,
        );
        return;
      }
    }
  }

  /** Commit observed on a replica: its committed prefix must agree with every other replica's. */
  observeCommit(node: NodeId, raft: RaftNode, fromIndex: number, toIndex: number): void {
    if (toIndex < fromIndex) return;
    const entries = raft.logEntries(fromIndex, toIndex + 1);
    for (const e of entries) this.recordCommitted(node, e);
  }

  private recordCommitted(node: NodeId, e: Entry): void {
    const known = this.committed.get(e.index);
    const key = entryKey(e);
    if (!known) {
      this.committed.set(e.index, { term: e.term, kind: e.kind, key });
      if (e.index > this.committedMax) this.committedMax = e.index;
      return;
    }
    if (known.term !== e.term || known.key !== key) {
      this.violation(
        `state machine safety: node ${node} has committed index ${e.index} as term ${e.term}, others as term ${known.term}`,
      );
    }
  }

  /** A replica applied an entry: it must be the committed one, applied in order, and exactly once. */
  observeApply(node: NodeId, e: Entry, result: KvResult | undefined): void {
    const last = this.appliedUpTo.get(node) ?? 0;
    if (e.index !== last + 1 && last !== 0) this.violation(`node ${node} applied ${e.index} after ${last}`);
    this.appliedUpTo.set(node, e.index);
    this.recordCommitted(node, e);
    if (!result || e.kind !== EntryKind.Normal || e.data.length === 0) return;
    const cmd = decodeKvCommand(e.data);
    const id = `${cmd.clientId}#${cmd.sequence}`;
    const first = this.firstEffect.get(id);
    if (first === undefined) {
      if (result.ok) {
        this.firstEffect.set(id, result.index);
        if (result.index !== e.index)
          this.violation(`exactly-once: ${id} first applied at ${e.index} reports index ${result.index}`);
        const key = `k${cmd.clientId}`;
        const list = this.writesByKey.get(key) ?? [];
        if (list.length === 0 || list[list.length - 1]! < e.index) list.push(e.index);
        this.writesByKey.set(key, list);
      }
    } else if (result.ok && result.index !== first) {
      this.violation(`exactly-once: ${id} took effect at ${first} and again at ${result.index}`);
    }
  }

  /** A replica restarted: its apply sequence restarts from its snapshot. */
  observeRestart(node: NodeId, appliedIndex: number): void {
    this.appliedUpTo.set(node, appliedIndex);
  }

  /** No acknowledged write is lost: it is in the committed record, at the index it was acknowledged at. */
  checkAcknowledged(index: number, term: number): void {
    const c = this.committed.get(index);
    if (!c || c.term !== term)
      this.violation(`acknowledged write at ${index}/${term} is not committed there`);
  }

  /** Linearizable read: it saw every write acknowledged before it began, and the state at its index. */
  checkRead(read: ReadRecord): void {
    if (read.servedIndex < read.ackedBeforeInvoke) {
      this.violation(
        `stale read of ${read.key}: served at ${read.servedIndex}, a write at ${read.ackedBeforeInvoke} was acknowledged before`,
      );
    }
    const writes = this.writesByKey.get(read.key) ?? [];
    let expected = 0;
    for (const w of writes) if (w <= read.servedIndex) expected = w;
    if (expected !== read.writtenAt) {
      this.violation(
        `read of ${read.key} at ${read.servedIndex} saw the write at ${read.writtenAt}, state there is the write at ${expected}`,
      );
    }
  }

  /** Log matching (§5.3): two logs that agree on an entry agree on everything before it. */
  checkLogMatching(a: NodeId, ra: RaftNode, b: NodeId, rb: RaftNode): void {
    const sa = ra.status();
    const sb = rb.status();
    const lo = Math.max(sa.firstIndex, sb.firstIndex);
    const hi = Math.min(sa.lastIndex, sb.lastIndex);
    if (hi < lo) return;
    const ea = ra.logEntries(lo, hi + 1);
    const eb = rb.logEntries(lo, hi + 1);
    let matchedFrom = -1;
    for (let i = ea.length - 1; i >= 0; i--) {
      if (ea[i]!.term === eb[i]!.term) {
        matchedFrom = i;
        break;
      }
    }
    for (let i = 0; i <= matchedFrom; i++) {
      if (ea[i]!.term !== eb[i]!.term || entryKey(ea[i]!) !== entryKey(eb[i]!)) {
        this.violation(
          `log matching: nodes ${a} and ${b} agree at ${lo + matchedFrom} but differ at ${lo + i}`,
        );
        return;
      }
    }
  }
}
