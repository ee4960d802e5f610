/**
 * The seeded cluster simulator: real `RaftNode`s with clock, network and disk replaced. A fault phase
 * crashes, partitions, pauses, reconfigures and transfers while clients write and read; the checker runs
 * after every step. A liveness phase then heals everything and demands a leader and progress in bounded time.
 */
import {
  bootstrapStorage,
  EntryKind,
  FlotillaError,
  type Message,
  type NodeId,
  Xoshiro128,
} from '@flotilla/core';
import { SafetyChecker } from './checker.ts';
import { SimClients } from './clients.ts';
import { decodeKvCommand } from './kv-machine.ts';
import { SimNetwork } from './network.ts';
import { type Scenario, scenarioFor } from './scenario.ts';
import { SimNode } from './sim-node.ts';

/** Time units per tick: messages take 1–3 units, disk writes about as long. */
const UNITS_PER_TICK = 10;
const WRITE_TIMEOUT_UNITS = 40 * UNITS_PER_TICK;
/** Leader changes after healing must settle within this many ticks (bounded liveness). */
const LEADER_WITHIN_TICKS = 200;
/** Healthy seeds exchange tens of thousands of messages; a run past this bound is a livelock. */
const MESSAGES_PER_SEED_MAX = 150_000;

export interface SeedResult {
  readonly seed: number;
  readonly violations: readonly string[];
  readonly livenessFailures: readonly string[];
  readonly stats: Record<string, number>;
  readonly trace: readonly string[];
}

export interface SimOptions {
  /** Called with narrative lines (elections, faults) when set. */
  readonly narrate?: (line: string) => void;
  readonly nodeCountOverride?: number;
  /** Every disk lies about fsync (to show that the checker catches lost acknowledged writes). */
  readonly lyingDisks?: boolean;
}

export class Simulation {
  readonly random: Xoshiro128;
  readonly scenario: Scenario;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly network: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly clients: SimClients;
  private now = 0;
  private nextNodeId: NodeId;
  private readonly lastCommit = new Map<NodeId, number>();
  private readonly lastRole = new Map<NodeId, string>();
  private readonly trace: string[] = [];
  private readonly removed = new Set<NodeId>();
  private faultsOn = true;
  private clientsIdle = false;
  readonly stats: Record<string, number> = {
    crashes: 0,
    partitions: 0,
    snapshots: 0,
    membershipChanges: 0,
    transfers: 0,
    elections: 0,
    readsServed: 0,
    writesAcked: 0,
    quiescedSteps: 0,
    /** Steps in which a node had more than one Ready in flight (asynchronous storage writes). */
    readiesOverlapping: 0,
  };

  constructor(
    readonly seed: number,
    private readonly options: SimOptions = {},
  ) {
    this.random = new Xoshiro128(seed);
    const base = scenarioFor(this.random);
    this.scenario = options.nodeCountOverride ? { ...base, nodeCount: options.nodeCountOverride } : base;
    this.network = new SimNetwork(new Xoshiro128(seed ^ 0x5eed));
    this.network.isUp = (id) => this.nodes.get(id)?.up ?? false;
    this.network.onSnapshotOutcome = (from, to, delivered) =>
      this.nodes.get(from)?.raft?.reportSnapshot(to, delivered);
    this.clients = new SimClients(this.scenario.clientCount, this.random, this.checker);
    const ids = Array.from({ length: this.scenario.nodeCount }, (_, i) => i + 1);
    this.nextNodeId = ids.length + 1;
    for (const id of ids) {
      const node = this.createNode(id);
      void bootstrapStorage(node.log, node.stable, ids);
      node.start();
      this.checker.observeRestart(id, 0);
    }
  }

  private createNode(id: NodeId): SimNode {
    const node = new SimNode(id, this.scenario.raft, this.seed, {
      send: (messages) => this.send(messages),
      applied: ({ node: n, entry, result }) => {
        this.checker.observeApply(n, entry, result);
        if (result && entry.kind === EntryKind.Normal && entry.data.length > 0 && result.ok) {
          const cmd = decodeKvCommand(entry.data);
          this.clients.effect(
            cmd.clientId,
            cmd.sequence,
            result.index,
            this.checker.committed.get(result.index)?.term ?? -1,
          );
        }
      },
      readReady: (n, read) => this.clients.readReady(n, read.context, read.index),
      readFailed: (_n, context) => this.clients.readFailed(context),
      snapshotInstalled: (n, index) => this.checker.observeRestart(n, index),
    });
    node.lyingDisk = this.options.lyingDisks ?? false;
    this.nodes.set(id, node);
    return node;
  }

  private note(line: string): void {
    const stamped = `t=${(this.now / UNITS_PER_TICK).toFixed(1)} ${line}`;
    this.trace.push(stamped);
    if (this.trace.length > 200) this.trace.shift();
    this.options.narrate?.(stamped);
  }

  private send(messages: readonly Message[]): void {
    this.network.send(this.now, messages);
  }

  // ------------------------------------------------------------------------------------------ the loop

  run(): SeedResult {
    const faultUnits = this.scenario.faultTicks * UNITS_PER_TICK;
    while (this.now < faultUnits && this.checker.violations.length === 0 && !this.stormed()) {
      this.stepOnce();
      this.injectFaults();
      this.clientTraffic();
    }
    const livenessFailures = this.stormed()
      ? [`message storm: more than ${MESSAGES_PER_SEED_MAX} messages`]
      : this.checker.violations.length === 0
        ? this.livenessPhase()
        : [];
    return {
      seed: this.seed,
      violations: this.checker.violations,
      livenessFailures,
      stats: {
        ...this.stats,
        writesAcked: this.clients.acked,
        readsServed: this.clients.readsDone,
        committed: this.checker.committedMax,
        messages: this.network.delivered,
      },
      trace: this.trace,
    };
  }

  /** One time unit: ticks, deliveries, Ready processing, disk flushes, then the safety checks. */
  private stepOnce(): void {
    this.now++;
    if (this.now % UNITS_PER_TICK === 0) for (const node of this.nodes.values()) node.tick();
    for (const { to, message } of this.network.due(this.now)) {
      const node = this.nodes.get(to);
      if (node?.raft) node.raft.step(message);
    }
    for (const node of this.nodes.values()) {
      if (!node.raft) continue;
      node.collect();
      // Disk latency: a write takes about as long as a message.
      if (node.pending.length > 0 && this.random.float() < 0.5) node.flush();
      node.collect();
      if (node.pending.length > 1) this.stats.readiesOverlapping!++;
      this.clients.serveReads(node.id, node.sm.appliedIndex, (key) => node.sm.writtenAt(key));
    }
    this.observe();
  }

  private observe(): void {
    for (const node of this.nodes.values()) {
      const raft = node.raft;
      if (!raft) continue;
      const role = `${raft.role}@${raft.term}`;
      if (this.lastRole.get(node.id) !== role) {
        this.lastRole.set(node.id, role);
        if (raft.role === 'leader') {
          this.stats.elections!++;
          this.note(`node ${node.id} leads term ${raft.term}`);
        }
      }
      this.checker.observeRole(node.id, raft);
      if (raft.role === 'leader' && raft.status().quiesced) this.stats.quiescedSteps!++;
      const commit = raft.commitIndex;
      const seen = this.lastCommit.get(node.id) ?? 0;
      if (commit > seen) {
        this.checker.observeCommit(node.id, raft, Math.max(seen + 1, raft.status().firstIndex), commit);
        this.lastCommit.set(node.id, commit);
      }
    }
    if (this.now % (50 * UNITS_PER_TICK) === 0) this.checkAllLogs();
  }

  private checkAllLogs(): void {
    const up = [...this.nodes.values()].filter((n) => n.raft);
    for (let i = 0; i < up.length; i++) {
      for (let j = i + 1; j < up.length; j++) {
        this.checker.checkLogMatching(up[i]!.id, up[i]!.raft!, up[j]!.id, up[j]!.raft!);
      }
    }
  }

  /** A run that exchanges far more messages than any healthy one is stuck in a loop: stop it. */
  private stormed(): boolean {
    return this.network.sent > MESSAGES_PER_SEED_MAX;
  }

  private chance(rate: number): boolean {
    return this.random.float() < rate;
  }

  private pickNode(filter: (n: SimNode) => boolean): SimNode | undefined {
    const candidates = [...this.nodes.values()].filter(filter);
    return candidates.length === 0 ? undefined : candidates[this.random.int(candidates.length)];
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.raft?.role === 'leader' && (!best || n.raft.term > best.raft!.term)) best = n;
    }
    return best;
  }

  // ------------------------------------------------------------------------------------------ faults

  private injectFaults(): void {
    if (!this.faultsOn) return;
    const r = this.scenario.rates;
    if (this.chance(r.crash)) this.crashOne();
    if (this.chance(r.restart)) this.restartOne();
    if (this.chance(r.partition)) this.partition();
    if (this.chance(r.heal)) {
      this.healNetwork();
      this.note('network healed');
    }
    if (this.scenario.clockSkew && this.chance(r.pause)) this.skewClock();
    if (this.chance(r.membership)) this.changeMembership();
    if (this.chance(r.transfer)) this.transferLeadership();
    if (this.chance(r.snapshot)) this.snapshot();
    if (this.chance(r.campaign)) this.pickNode((n) => n.up)?.raft?.campaign();
    if (this.chance(r.networkChange)) {
      const lossy = this.chance(0.5);
      this.network.faults = {
        dropRate: lossy ? this.random.float() * 0.2 : 0,
        duplicateRate: lossy ? this.random.float() * 0.1 : 0,
        delayMax: 1 + this.random.int(lossy ? 6 : 3),
      };
      this.note(
        `network: drop ${this.network.faults.dropRate.toFixed(2)} dup ${this.network.faults.duplicateRate.toFixed(2)}`,
      );
    }
  }

  /**
   * The transport's failure detection: a broken link (or a peer that died or came back) is reported to the
   * node at the other end, which wakes quiesced groups so that their timers can elect a new leader.
   */
  private reportUnreachable(at: NodeId, peer: NodeId): void {
    this.nodes.get(at)?.raft?.reportUnreachable(peer);
  }

  private cutLink(a: NodeId, b: NodeId): void {
    if (!this.network.linkUp(a, b)) return;
    this.network.setLink(a, b, false);
    this.reportUnreachable(a, b);
  }

  private healNetwork(): void {
    const ids = [...this.nodes.keys()];
    for (const a of ids)
      for (const b of ids) if (a !== b && !this.network.linkUp(a, b)) this.reportUnreachable(a, b);
    this.network.healAll();
  }

  private crashOne(): void {
    const node = this.pickNode((n) => n.up);
    if (!node) return;
    const persistedParts = this.random.int(4);
    node.crash(persistedParts);
    this.network.dropTo(node.id);
    for (const other of this.nodes.keys()) this.reportUnreachable(other, node.id);
    this.clients.abandonReads(node.id);
    this.lastRole.delete(node.id);
    this.stats.crashes!++;
    this.note(`crash node ${node.id} (write in flight kept ${persistedParts}/3 parts)`);
  }

  private restartOne(): void {
    const node = this.pickNode((n) => !n.up && !this.removed.has(n.id));
    if (!node) return;
    this.restart(node);
  }

  private restart(node: SimNode): void {
    node.start();
    for (const other of this.nodes.keys()) if (other !== node.id) this.reportUnreachable(other, node.id);
    this.checker.observeRestart(node.id, node.sm.appliedIndex);
    this.lastCommit.set(node.id, Math.min(this.lastCommit.get(node.id) ?? 0, node.raft!.commitIndex));
    this.note(`restart node ${node.id} (term ${node.raft!.term}, commit ${node.raft!.commitIndex})`);
  }

  private partition(): void {
    const ids = [...this.nodes.keys()];
    if (this.chance(0.3)) {
      const a = ids[this.random.int(ids.length)]!;
      const b = ids[this.random.int(ids.length)]!;
      if (a === b) return;
      this.cutLink(a, b);
      this.note(`cut link ${a} -> ${b}`);
    } else {
      const side = new Set(ids.filter(() => this.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cutLink(a, b);
      this.note(`partition {${[...side].join(',')}} | {${ids.filter((i) => !side.has(i)).join(',')}}`);
    }
    this.stats.partitions!++;
  }

  private skewClock(): void {
    const node = this.pickNode((n) => n.up);
    if (!node) return;
    node.tickRate = this.random.int(3); // 0 = paused, 2 = running fast
    this.note(`node ${node.id} ticks at rate ${node.tickRate}`);
  }

  private snapshot(): void {
    const node = this.pickNode((n) => n.up);
    if (node?.snapshotAndCompact(this.random.int(20))) {
      this.stats.snapshots!++;
      this.note(`node ${node.id} snapshots at ${node.sm.appliedIndex}`);
    }
  }

  private transferLeadership(): void {
    const leader = this.leader();
    if (!leader?.raft) return;
    const voters = leader.raft.status().confState.voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const target = voters[this.random.int(voters.length)]!;
    leader.raft.transferLeadership(target);
    this.stats.transfers!++;
    this.note(`transfer leadership ${leader.id} -> ${target}`);
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (!leader?.raft) return;
    const cs = leader.raft.status().confState;
    try {
      if (cs.votersOutgoing.length > 0) return; // auto-leave will finish it
      const roll = this.random.int(4);
      if (roll === 0 && cs.voters.length + cs.learners.length < 7) {
        const id = this.nextNodeId++;
        this.createNode(id).start();
        this.checker.observeRestart(id, 0);
        leader.raft.proposeConfChange({ changes: [{ op: 'addLearner', nodeId: id }] });
        this.note(`propose add learner ${id}`);
      } else if (roll === 1 && cs.learners.length > 0) {
        const id = cs.learners[this.random.int(cs.learners.length)]!;
        leader.raft.proposeConfChange({ changes: [{ op: 'addVoter', nodeId: id }] });
        this.note(`propose promote ${id}`);
      } else if (roll === 2 && cs.voters.length > 3) {
        const id = cs.voters[this.random.int(cs.voters.length)]!;
        leader.raft.proposeConfChange({ changes: [{ op: 'removeNode', nodeId: id }] });
        this.removed.add(id);
        this.note(`propose remove ${id}`);
      } else if (roll === 3 && cs.learners.length > 0 && cs.voters.length >= 3) {
        // Joint consensus: swap a voter for a learner in one change.
        const add = cs.learners[this.random.int(cs.learners.length)]!;
        const out = cs.voters[this.random.int(cs.voters.length)]!;
        leader.raft.proposeConfChange({
          changes: [
            { op: 'addVoter', nodeId: add },
            { op: 'removeNode', nodeId: out },
          ],
        });
        this.removed.add(out);
        this.note(`propose joint swap +${add} -${out}`);
      } else {
        return;
      }
      this.stats.membershipChanges!++;
    } catch (error) {
      if (!(error instanceof FlotillaError)) throw error;
    }
  }

  // ------------------------------------------------------------------------------------------ clients

  private clientTraffic(): void {
    const s = this.scenario;
    // Clients go quiet for a while now and then, so that idle groups quiesce and must wake up again.
    if (this.now % (40 * UNITS_PER_TICK) === 0) this.clientsIdle = this.chance(0.35);
    // After healing only pending writes are retried (and one fresh write per client, see settled()).
    if (this.faultsOn && !this.clientsIdle && this.chance(s.rates.write)) {
      const clientId = String(1 + this.random.int(s.clientCount));
      const w = this.clients.newWrite(clientId, this.now);
      if (w) this.sendWrite(w);
    }
    for (const w of this.clients.writes.values()) {
      if (this.now - w.sentAt > WRITE_TIMEOUT_UNITS || w.attempts === 0) this.sendWrite(w);
    }
    // Reads go on (more rarely) while writers are quiet: they wake quiesced leaders and probe their leases.
    if (this.chance(this.clientsIdle ? s.rates.read / 4 : s.rates.read)) {
      const node = this.pickNode((n) => n.up);
      if (!node?.raft) return;
      const { context } = this.clients.startRead(node.id, this.clients.randomKey());
      try {
        node.raft.readIndex(context);
      } catch (error) {
        if (!(error instanceof FlotillaError)) throw error;
        this.clients.readFailed(context);
      }
    }
  }

  /** Sends (or re-sends, same session sequence) a write to a random live node; leaders are preferred. */
  private sendWrite(w: { clientId: string; sequence: number; sentAt: number; attempts: number }): void {
    const leader = this.leader();
    const node = leader && this.chance(0.7) ? leader : this.pickNode((n) => n.up);
    w.sentAt = this.now;
    w.attempts++;
    if (!node?.raft) return;
    try {
      node.raft.propose(this.clients.command(w));
    } catch (error) {
      if (!(error instanceof FlotillaError)) throw error;
      // Not leader / dropped / too many uncommitted: the client retries after its timeout.
    }
  }

  // ------------------------------------------------------------------------------------------ liveness

  private livenessPhase(): string[] {
    this.faultsOn = false;
    this.note('--- healing: restart all, heal network, clocks even; liveness phase ---');
    this.healNetwork();
    this.network.faults = { dropRate: 0, duplicateRate: 0, delayMax: 2 };
    // Restart every node the most advanced live replica still counts as a member (a removal proposed but never
    // committed leaves the node a member: it must come back, or the cluster may lack a quorum).
    const members = this.membersByMostAdvancedReplica();
    for (const node of this.nodes.values()) {
      node.tickRate = 1;
      if (!node.up && (members.has(node.id) || !this.removed.has(node.id))) this.restart(node);
    }
    const failures: string[] = [];
    const deadline = this.now + this.scenario.livenessTicks * UNITS_PER_TICK;
    let leaderAt: number | undefined;
    while (this.now < deadline && this.checker.violations.length === 0 && !this.stormed()) {
      this.stepOnce();
      this.clientTraffic();
      this.stopRemovedNodes();
      const leader = this.leader();
      if (leader && leaderAt === undefined) leaderAt = this.now;
      if (this.settled()) return failures;
    }
    if (this.checker.violations.length > 0) return failures;
    if (
      leaderAt === undefined ||
      leaderAt - (deadline - this.scenario.livenessTicks * UNITS_PER_TICK) >
        LEADER_WITHIN_TICKS * UNITS_PER_TICK
    ) {
      failures.push(`no stable leader within ${LEADER_WITHIN_TICKS} ticks after healing`);
    }
    for (const node of this.nodes.values()) {
      const st = node.raft?.status();
      if (!st) {
        this.note(`  node ${node.id}: down`);
        continue;
      }
      const progress = st.progress.map(
        (p) => `${p.id}:${p.state}/m${p.matchIndex}/n${p.nextIndex}${p.recentActive ? '' : '/inactive'}`,
      );
      this.note(
        `  node ${node.id}: ${st.role} term ${st.term} lead ${st.leaderId} commit ${st.commitIndex} applied ${st.appliedIndex} ` +
          `uncommitted ${st.uncommittedBytes} transferee ${st.leadTransferee} log [${st.firstIndex},${st.lastIndex}] voters ${st.confState.voters}|${st.confState.votersOutgoing} learners ${st.confState.learners} ${progress.join(' ')}`,
      );
    }
    const pending = [...this.clients.writes.values()].map((w) => `${w.clientId}#${w.sequence}`);
    failures.push(
      `not settled after ${this.scenario.livenessTicks} ticks: pending writes [${pending.join(', ')}]`,
    );
    return failures;
  }

  /** Liveness reached: a leader of the current config, every client's writes acknowledged (after a fresh one each). */
  private settledClients = new Set<string>();
  private settled(): boolean {
    const leader = this.leader();
    if (!leader) return false;
    if (this.clients.writes.size > 0) return false;
    // Every client must also get one more write through after healing.
    for (let c = 1; c <= this.scenario.clientCount; c++) {
      const id = String(c);
      if (this.settledClients.has(id)) continue;
      const w = this.clients.newWrite(id, this.now);
      if (w) this.sendWrite(w);
      this.settledClients.add(id);
      return false;
    }
    return true;
  }

  private membersByMostAdvancedReplica(): Set<NodeId> {
    let best: SimNode | undefined;
    for (const n of this.nodes.values())
      if (n.raft && (!best || n.raft.commitIndex > best.raft!.commitIndex)) best = n;
    const cs = best?.raft?.status().confState;
    return new Set(cs ? [...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext] : []);
  }

  /** Nodes removed from the configuration are shut down once the removal is applied (as an operator would). */
  private stopRemovedNodes(): void {
    const leader = this.leader();
    if (!leader?.raft) return;
    const cs = leader.raft.status().confState;
    const members = new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext]);
    for (const node of this.nodes.values()) {
      const removalApplied = this.removed.has(node.id) && leader.raft.appliedIndex >= leader.raft.commitIndex;
      if (node.up && !members.has(node.id) && removalApplied) {
        node.crash(3);
        this.note(`stop removed node ${node.id}`);
      }
    }
  }
}

export function runSeed(seed: number, options: SimOptions = {}): SeedResult {
  return new Simulation(seed, options).run();
}
