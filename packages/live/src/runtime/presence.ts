/**
 * The live-queries presence of one node: an actor on every node that announces itself in every user shard
 * (so that each shard's reaper can watch it, across nodes) and answers pings. When its node dies, the
 * reapers' death watch fires; a node that comes back announces a new presence.
 */
import type { Actor, ActorContext } from '@flotilla/actors';
import { type Calls, gatewayCalls, type NodeActorProps } from '@flotilla/app';
import { LiveSubscriptionsMachine } from '../machine/subscriptions-machine.ts';
import type { PresenceMessage } from './protocol.ts';

export interface PresenceProps {
  readonly prefix: string;
  readonly shards: number;
}

/** Announces again this often (a shard that lost it, for example after a partition, learns it again). */
const ANNOUNCE_MS = 10_000;
/** First announcements retry this often until every shard has it. */
const RETRY_MS = 500;
const CALL_TIMEOUT_MS = 5_000;

export class PresenceActor implements Actor<PresenceMessage> {
  private calls!: Calls;
  private ctx!: ActorContext<PresenceMessage>;
  private announced = new Set<number>();
  private announcing = false;
  private stopped = false;

  constructor(private readonly props: NodeActorProps<PresenceProps>) {}

  preStart(ctx: ActorContext<PresenceMessage>): void {
    this.ctx = ctx;
    this.calls = gatewayCalls(ctx, this.props.gateway);
    ctx.timers.startPeriodic('retry', { type: 'announce' }, RETRY_MS);
    ctx.tell(ctx.self, { type: 'announce' });
  }

  postStop(): void {
    this.stopped = true;
  }

  receive(message: PresenceMessage, ctx: ActorContext<PresenceMessage>): void {
    switch (message.type) {
      case 'announce':
        void this.announce();
        return;
      case 'ping':
        ctx.reply(message, { node: this.props.nodeId });
        return;
    }
  }

  private async announce(): Promise<void> {
    if (this.announcing || this.stopped) return;
    this.announcing = true;
    try {
      const { prefix, shards } = this.props;
      await Promise.all(
        Array.from({ length: shards }, async (_, i) => {
          if (this.announced.has(i)) return;
          await this.calls
            .execute(
              LiveSubscriptionsMachine,
              `${prefix}:${i}`,
              'presence',
              { node: this.props.nodeId, ref: this.ctx.self },
              { timeoutMs: CALL_TIMEOUT_MS },
            )
            .then(() => this.announced.add(i))
            .catch(() => {});
        }),
      );
      if (this.announced.size === shards) {
        // Every shard has it: from now on, announce again now and then only.
        this.announced.clear();
        this.ctx.timers.startPeriodic('retry', { type: 'announce' }, ANNOUNCE_MS);
      }
    } finally {
      this.announcing = false;
    }
  }
}
