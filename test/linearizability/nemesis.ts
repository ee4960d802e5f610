/**
 * The fault schedule of the linearizability test: kill -9 of the node leading the most key groups (and its
 * restart from disk), isolating a leader from its peers (and healing), and leadership transfers. Each fault
 * is logged with whether it visibly took effect, so the test can show that faults really happened.
 */

import type { FlotillaClient } from '@flotilla/client';
import { assertNever } from '@flotilla/core';
import {
  eventually,
  type NodeStatus,
  type ProcessCluster,
  statusOf,
} from '../../packages/node/test/process-cluster.ts';

export type FaultKind = 'kill' | 'crash' | 'partition' | 'transfer' | 'pause';

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly node: number;
  /** Start and end, on the history's clock (performance.now()). */
  readonly startMs: number;
  endMs: number;
  /** The fault had the effect it aims at (leaders moved away from the node, or to the target). */
  effective: boolean;
}

export interface NemesisOptions {
  /** The groups the workload's keys live in. */
  readonly groups: readonly string[];
  readonly members: readonly number[];
  /** How long a killed node stays down and a partition is held. */
  readonly faultHoldMs: number;
  /** Bound on waiting for a fault's effect (new leaders, a restarted node answering). */
  readonly settleTimeoutMs: number;
  /** How long every node stays down in `crash`. */
  readonly crashHoldMs: number;
  /** How long `pause` freezes a node: under the clients' timeout, so that calls queued there complete. */
  readonly pauseMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Nemesis {
  readonly log: FaultRecord[] = [];
  private readonly down = new Set<number>();
  private partitioned = false;
  private paused: number | undefined;

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly admin: FlotillaClient,
    private readonly options: NemesisOptions,
  ) {}

  private up(): number[] {
    return this.options.members.filter((id) => !this.down.has(id));
  }

  private async statuses(ids: readonly number[]): Promise<NodeStatus[]> {
    const settled = await Promise.allSettled(ids.map((id) => statusOf(this.admin, this.cluster.api(id))));
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  /** Leader of each key group as the nodes in `ids` report it (a node that calls itself leader wins). */
  async leaders(ids: readonly number[] = this.up()): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const s of await this.statuses(ids))
      for (const g of s.groups)
        if (this.options.groups.includes(g.id) && (g.role === 'leader' || !out.has(g.id)) && g.leaderId !== 0)
          out.set(g.id, g.role === 'leader' ? s.nodeId : g.leaderId);
    return out;
  }

  /** The node leading the most key groups (the first member if no leader is known). */
  private async busiestLeader(): Promise<number> {
    const counts = new Map<number, number>();
    for (const leader of (await this.leaders()).values()) counts.set(leader, (counts.get(leader) ?? 0) + 1);
    const best = [...counts].sort((a, b) => b[1] - a[1])[0];
    return best?.[0] ?? this.options.members[0]!;
  }

  /** True once nodes in `ids` agree that no key group is led by `node` (and all groups have a leader). */
  private async movedAway(node: number, ids: readonly number[]): Promise<boolean> {
    const statuses = await this.statuses(ids);
    if (statuses.length < ids.length) return false;
    return statuses.every((s) =>
      this.options.groups.every((id) => {
        const g = s.groups.find((x) => x.id === id);
        return g !== undefined && g.leaderId !== 0 && g.leaderId !== node;
      }),
    );
  }

  /** The highest commit index of each key group that the nodes in `ids` report. */
  private async commitIndexes(ids: readonly number[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const s of await this.statuses(ids))
      for (const g of s.groups)
        if (this.options.groups.includes(g.id)) out.set(g.id, Math.max(out.get(g.id) ?? 0, g.commitIndex));
    return out;
  }

  /** True once `node` knows a leader of every key group and has applied at least `commits`. */
  private async caughtUp(node: number, commits: ReadonlyMap<string, number>): Promise<boolean> {
    const [s] = await this.statuses([node]);
    if (!s) return false;
    return this.options.groups.every((id) => {
      const g = s.groups.find((x) => x.id === id);
      return g !== undefined && g.leaderId !== 0 && g.appliedIndex >= (commits.get(id) ?? 0);
    });
  }

  private async settle(what: string, check: () => Promise<boolean>): Promise<boolean> {
    try {
      await eventually(what, this.options.settleTimeoutMs, async () => ((await check()) ? true : undefined));
      return true;
    } catch {
      return false;
    }
  }

  private begin(kind: FaultKind, node: number): FaultRecord {
    const record = { kind, node, startMs: performance.now(), endMs: Number.NaN, effective: false };
    this.log.push(record);
    return record;
  }

  /** kill -9 of the busiest leader; it restarts from its data directory after `faultHoldMs`. */
  async kill(): Promise<void> {
    const victim = await this.busiestLeader();
    const record = this.begin('kill', victim);
    this.down.add(victim);
    await this.cluster.kill(victim, 'SIGKILL');
    const others = this.up();
    record.effective = await this.settle('leaders after kill', () => this.movedAway(victim, others));
    await sleep(this.options.faultHoldMs);
    const commits = await this.commitIndexes(others);
    this.cluster.spawn(victim);
    this.down.delete(victim);
    await this.settle(`node ${victim} caught up`, () => this.caughtUp(victim, commits));
    record.endMs = performance.now();
  }

  /**
   * kill -9 of every node at once, then all restart from their data directories: acknowledged writes must
   * survive from what each process had written when it died (its log, its applied state, its snapshots).
   */
  async crash(): Promise<void> {
    const members = this.options.members;
    const record = this.begin('crash', 0);
    for (const id of members) this.down.add(id);
    await Promise.all(members.map((id) => this.cluster.kill(id, 'SIGKILL')));
    await sleep(this.options.crashHoldMs);
    for (const id of members) {
      this.cluster.spawn(id);
      this.down.delete(id);
    }
    record.effective = await this.settle('every key group led after the crash', async () => {
      const leaders = await this.leaders(members);
      return this.options.groups.every((g) => leaders.has(g));
    });
    record.endMs = performance.now();
  }

  /** Cuts the busiest leader off from its peers (both directions, on every node), then heals. */
  async partition(): Promise<void> {
    const victim = await this.busiestLeader();
    const others = this.options.members.filter((id) => id !== victim);
    const record = this.begin('partition', victim);
    this.partitioned = true;
    await this.admin.injectFaults(this.cluster.api(victim), others);
    for (const id of others) await this.admin.injectFaults(this.cluster.api(id), [victim]);
    record.effective = await this.settle('leaders after partition', () => this.movedAway(victim, others));
    await sleep(this.options.faultHoldMs);
    await this.heal();
    record.endMs = performance.now();
  }

  /**
   * Freezes the busiest leader (SIGSTOP) for `pauseMs`, long enough for the others to elect a new leader and
   * short enough that calls queued at the frozen node complete after SIGCONT (a GC or scheduling stall).
   */
  async pause(pauseMs: number): Promise<void> {
    const victim = await this.busiestLeader();
    const pid = this.cluster.processes.get(victim)?.pid;
    if (pid === undefined) return;
    const others = this.options.members.filter((id) => id !== victim);
    const record = this.begin('pause', victim);
    this.paused = pid;
    process.kill(pid, 'SIGSTOP');
    const elected = this.movedAwayWithin(victim, others, pauseMs);
    await sleep(pauseMs);
    this.resume();
    record.effective = await elected;
    record.endMs = performance.now();
  }

  private async movedAwayWithin(node: number, ids: readonly number[], withinMs: number): Promise<boolean> {
    const deadline = performance.now() + withinMs;
    while (performance.now() < deadline) {
      if (await this.movedAway(node, ids).catch(() => false)) return true;
      await sleep(50);
    }
    return false;
  }

  /** Resumes a node frozen by `pause` (also called when the test ends early). */
  resume(): void {
    if (this.paused === undefined) return;
    process.kill(this.paused, 'SIGCONT');
    this.paused = undefined;
  }

  /** Moves the leadership of every key group to another node. */
  async transfer(): Promise<void> {
    const before = await this.leaders();
    const target = this.up().find((id) => id !== (before.values().next().value ?? 0)) ?? 1;
    const record = this.begin('transfer', target);
    await Promise.allSettled(
      this.options.groups
        .filter((g) => before.get(g) !== target)
        .map((g) => this.admin.transferLeader(g, target)),
    );
    record.effective = await this.settle('transfer', async () =>
      [...(await this.leaders()).values()].includes(target),
    );
    record.endMs = performance.now();
  }

  /** Removes every injected partition (each node answers, or the attempt is given up). */
  async heal(): Promise<void> {
    if (!this.partitioned) return;
    await Promise.allSettled(
      this.options.members.map((id) => this.admin.injectFaults(this.cluster.api(id), [])),
    );
    this.partitioned = false;
  }

  /** Runs the `schedule` of faults in turn, with `gapMs` of calm before each, until `deadlineMs`. */
  async run(schedule: readonly FaultKind[], deadlineMs: number, gapMs: number): Promise<void> {
    for (let i = 0; performance.now() + gapMs < deadlineMs; i++) {
      await sleep(gapMs);
      const kind = schedule[i % schedule.length]!;
      switch (kind) {
        case 'kill':
          await this.kill();
          break;
        case 'crash':
          await this.crash();
          break;
        case 'partition':
          await this.partition();
          break;
        case 'transfer':
          await this.transfer();
          break;
        case 'pause':
          await this.pause(this.options.pauseMs);
          break;
        default:
          assertNever(kind);
      }
    }
  }
}
