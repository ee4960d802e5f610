/**
 * The reaper of one user shard: a leader-only actor on the shard's leader. It watches the presence actor of
 * every node the shard knows (death watch across nodes, and a ping when it starts watching and now and then:
 * a node that died before this reaper started sends no Terminated); when one terminates or does not answer,
 * it pings it for a grace period (a link that flapped comes back), then removes that node's subscriptions
 * with fenced commands — only those registered before the node was seen dead, so a subscription its client
 * already moved is kept. A node whose subscriptions remain while it has no presence in the shard is treated
 * the same way.
 */
import type { Actor, ActorContext, ActorRef, AnyActorRef } from '@flotilla/actors';
import { type Calls, gatewayCalls, type LeaderProps, StaleFenceError } from '@flotilla/app';
import { LiveSubscriptionsMachine } from '../machine/subscriptions-machine.ts';
import type { PresenceMessage, ReaperMessage } from './protocol.ts';

export interface ReaperProps {
  /** How long a node whose presence terminated is pinged before its subscriptions are removed. */
  readonly graceMs: number;
}

const MAINTAIN_MS = 500;
const PING_TIMEOUT_MS = 400;
/** A node with subscriptions but no presence in the shard is removed after this long (at least). */
const NO_PRESENCE_GRACE_MS = 10_000;
/** Watched presences are also pinged this often. */
const PING_EVERY_MS = 5_000;
const CALL_TIMEOUT_MS = 5_000;

const refKey = (ref: AnyActorRef): string => `${ref.node ?? 0}/${ref.path}/${ref.uid}`;

interface Suspect {
  /** Wall-clock ms when it was first seen dead: subscriptions registered before are removed. */
  readonly sinceWallMs: number;
  readonly sinceMs: number;
  readonly ref: ActorRef<PresenceMessage> | undefined;
  /** How long it stays a suspect before its subscriptions go. */
  readonly graceMs: number;
}

export class Reaper implements Actor<ReaperMessage> {
  private calls!: Calls;
  private ctx!: ActorContext<ReaperMessage>;
  private stopped = false;
  private busy = false;
  /** Presences watched: ref key → node. */
  private readonly watched = new Map<string, number>();
  private readonly suspects = new Map<number, Suspect>();
  private lastPingMs = 0;
  readonly counters = { removed: 0 };

  constructor(private readonly props: LeaderProps<ReaperProps>) {}

  preStart(ctx: ActorContext<ReaperMessage>): void {
    this.ctx = ctx;
    this.calls = gatewayCalls(ctx, this.props.gateway, {
      fence: { group: this.props.group, term: this.props.term },
    });
    ctx.timers.startPeriodic('maintain', { type: 'maintain' }, MAINTAIN_MS);
    ctx.tell(ctx.self, { type: 'maintain' });
  }

  postStop(): void {
    this.stopped = true;
  }

  receive(message: ReaperMessage): void {
    if (this.stopped) return;
    switch (message.type) {
      case 'maintain':
        if (this.busy) return;
        this.busy = true;
        void this.maintain()
          .catch((error: unknown) => this.failed(error))
          .finally(() => {
            this.busy = false;
          });
        return;
      case 'actor-terminated': {
        const key = refKey(message.ref);
        const node = this.watched.get(key);
        if (node === undefined) return;
        this.watched.delete(key);
        this.suspect(node, message.ref as ActorRef<PresenceMessage>);
        return;
      }
    }
  }

  private suspect(node: number, ref: ActorRef<PresenceMessage> | undefined): void {
    if (this.suspects.has(node)) return;
    // Without a presence to ping, wait longer: a node that just started may not have announced itself yet.
    const graceMs =
      ref === undefined ? Math.max(this.props.graceMs, NO_PRESENCE_GRACE_MS) : this.props.graceMs;
    this.suspects.set(node, { sinceWallMs: Date.now(), sinceMs: this.ctx.now(), ref, graceMs });
    this.ctx.log.info?.({ group: this.props.group, node }, 'live queries: node suspected dead');
  }

  private failed(error: unknown): void {
    if (error instanceof StaleFenceError) {
      this.stopped = true;
      this.ctx.stop();
      return;
    }
    this.ctx.log.debug?.({ err: error, group: this.props.group }, 'reaper step failed; retrying');
  }

  private async maintain(): Promise<void> {
    const group = this.props.group;
    const options = { consistency: 'lease' as const, timeoutMs: CALL_TIMEOUT_MS };
    const [presences, counts] = await Promise.all([
      this.calls.query(LiveSubscriptionsMachine, group, 'presences', {}, options),
      this.calls.query(LiveSubscriptionsMachine, group, 'counts', {}, options),
    ]);
    const present = new Set<number>();
    for (const p of presences) {
      present.add(p.node);
      const ref = p.ref as unknown as ActorRef<PresenceMessage>;
      const key = refKey(ref);
      if (this.watched.has(key) || this.suspects.has(p.node)) continue;
      for (const [k, n] of this.watched) if (n === p.node) this.watched.delete(k); // an older incarnation
      this.watched.set(key, p.node);
      this.ctx.watch(ref);
      // A node that died before this reaper started (its shard's leader died with it) sends no Terminated:
      // its link was already down. One ping tells.
      this.checkAlive(p.node, ref);
    }
    // Death watch misses nothing while links stay up; a ping now and then covers what it cannot see.
    if (this.ctx.now() - this.lastPingMs >= PING_EVERY_MS) {
      this.lastPingMs = this.ctx.now();
      for (const [key, node] of this.watched) {
        const ref = presences.find((p) => p.node === node)?.ref as unknown as ActorRef<PresenceMessage>;
        if (ref !== undefined && refKey(ref) === key) this.checkAlive(node, ref);
      }
    }
    for (const node of Object.keys(counts.byNode).map(Number))
      if (!present.has(node)) this.suspect(node, undefined);
    for (const [node, s] of [...this.suspects]) {
      if (s.ref === undefined && present.has(node)) {
        this.suspects.delete(node); // its presence arrived: it is watched from now on
        continue;
      }
      if (s.ref !== undefined && (await this.alive(s.ref))) {
        this.suspects.delete(node); // the link came back: watch it again
        continue;
      }
      if (this.ctx.now() - s.sinceMs < s.graceMs) continue;
      await this.removeNode(node, s.sinceWallMs);
      this.suspects.delete(node);
    }
  }

  /** Pings a watched presence; one that does not answer becomes a suspect (and is no longer watched). */
  private checkAlive(node: number, ref: ActorRef<PresenceMessage>): void {
    void this.alive(ref).then((ok) => {
      if (ok || this.stopped) return;
      this.watched.delete(refKey(ref));
      this.ctx.unwatch(ref);
      this.suspect(node, ref);
    });
  }

  private async alive(ref: ActorRef<PresenceMessage>): Promise<boolean> {
    try {
      await this.ctx.ask(ref, { type: 'ping' }, { timeoutMs: PING_TIMEOUT_MS });
      return true;
    } catch {
      return false;
    }
  }

  private async removeNode(node: number, before: number): Promise<void> {
    let after: string | undefined;
    let removed = 0;
    for (;;) {
      const r = await this.calls.execute(
        LiveSubscriptionsMachine,
        this.props.group,
        'removeNode',
        { node, before, ...(after === undefined ? {} : { after }) },
        { timeoutMs: CALL_TIMEOUT_MS },
      );
      removed += r.removed;
      if (r.next === null) break;
      after = r.next;
    }
    this.counters.removed += removed;
    this.ctx.log.info?.({ group: this.props.group, node, removed }, 'live queries: dead node removed');
  }
}
