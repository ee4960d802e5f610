/**
 * Leader-only actors: for every group a registered spec selects, its actor runs on the node that leads the
 * group — spawned when this node becomes leader, given the term as its fencing token, stopped when
 * leadership is lost (or the term changes). Changes of one group are handled in order, one at a time.
 */
import type { ActorKind, ActorSystem, AnyActorClass, AnyActorRef } from '@flotilla/actors';
import { type ActorRefData, type AppDefinition, type LeaderProps, selects } from '@flotilla/app';
import type { GroupId, NodeId } from '@flotilla/core';
import type { Logger } from '../operations/logger.ts';

/** A change of leader of one group, as this node saw it. */
export interface LeadershipEvent {
  readonly group: GroupId;
  readonly kind: string;
  readonly leaderId: NodeId;
  readonly term: number;
  /** This node leads the group now. */
  readonly local: boolean;
}

export interface LeaderActorsOptions {
  readonly selfId: NodeId;
  readonly system: () => ActorSystem | undefined;
  readonly specs: AppDefinition['leaderActors'];
  readonly gateway: () => ActorRefData | undefined;
  readonly logger: Logger;
}

interface Running {
  readonly ref: AnyActorRef;
  readonly term: number;
}

export class LeaderActors {
  private readonly running = new Map<string, Running>();
  private readonly chains = new Map<GroupId, Promise<void>>();
  private stopped = false;
  readonly counters = { started: 0, stopped: 0, failed: 0 };

  constructor(private readonly o: LeaderActorsOptions) {}

  /** Actors running here now: name → term. */
  get active(): ReadonlyMap<string, number> {
    return new Map([...this.running].map(([name, r]) => [name, r.term]));
  }

  changed(event: LeadershipEvent): void {
    if (this.stopped || this.o.specs.length === 0) return;
    const specs = this.o.specs.filter((s) => selects(s.groups, event.group, event.kind));
    if (specs.length === 0) return;
    const previous = this.chains.get(event.group) ?? Promise.resolve();
    const next = previous
      .then(() => (event.local ? this.start(event, specs) : this.stop(event.group, specs)))
      .catch((error: unknown) => {
        this.counters.failed++;
        this.o.logger.error({ err: error, group: event.group }, 'leader-only actor change failed');
      });
    this.chains.set(event.group, next);
    void next.then(() => {
      if (this.chains.get(event.group) === next) this.chains.delete(event.group);
    });
  }

  private async start(event: LeadershipEvent, specs: AppDefinition['leaderActors']): Promise<void> {
    const system = this.o.system();
    const gateway = this.o.gateway();
    if (system === undefined || gateway === undefined || this.stopped) return;
    for (const spec of specs) {
      const name = `${spec.name}@${event.group}`;
      const known = this.running.get(name);
      if (known?.term === event.term) continue;
      if (known !== undefined) await this.stopOne(system, name, known);
      const props: LeaderProps = {
        ...((spec.props ?? {}) as object),
        group: event.group,
        term: event.term,
        nodeId: this.o.selfId,
        gateway,
      };
      const ref = await system.spawn(
        spec.kind as ActorKind<AnyActorClass>,
        { name, host: 'auto', props } as never,
      );
      this.running.set(name, { ref, term: event.term });
      this.counters.started++;
      this.o.logger.info({ group: event.group, actor: name, term: event.term }, 'leader-only actor started');
    }
  }

  private async stop(group: GroupId, specs: AppDefinition['leaderActors']): Promise<void> {
    const system = this.o.system();
    if (system === undefined) return;
    for (const spec of specs) {
      const name = `${spec.name}@${group}`;
      const known = this.running.get(name);
      if (known !== undefined) await this.stopOne(system, name, known);
    }
  }

  private async stopOne(system: ActorSystem, name: string, running: Running): Promise<void> {
    this.running.delete(name);
    await system.stop(running.ref).catch(() => {});
    this.counters.stopped++;
    this.o.logger.info({ actor: name, term: running.term }, 'leader-only actor stopped');
  }

  /** Stops every leader-only actor (the node is stopping). */
  async stopAll(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.chains.values()]);
    const system = this.o.system();
    if (system === undefined) return;
    for (const [name, r] of [...this.running]) await this.stopOne(system, name, r);
  }
}
