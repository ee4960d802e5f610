/**
 * The dispatcher of one jobs group: a leader-only actor on the group's leader, fenced by its term. It
 * configures the queues from the code, announces itself to the worker pools, and loops: it reads what is
 * due (a lease read on its own replica), claims ready jobs for the pools' free slots (one command for many
 * jobs), hands them over, recovers orphans (expired leases; pools that died, seen by death watch across
 * nodes) and ticks schedules and retention. A command of a dispatcher whose term is over is refused.
 */
import type { Actor, ActorContext, ActorRef, AnyActorRef } from '@flotilla/actors';
import { type Calls, gatewayCalls, type LeaderProps, StaleFenceError } from '@flotilla/app';
import { JobsMachine } from '../machine/jobs-machine.ts';
import type { WorkerRecord } from '../machine/records.ts';
import type { ClaimBatch, ClaimedTuple, QueueSettings } from '../model.ts';
import type { DispatcherMessage, PoolMessage } from './protocol.ts';

export interface DispatcherProps {
  readonly queues: readonly QueueSettings[];
  readonly groups: number;
  readonly prefix: string;
}

/** How often the loop looks for work while pools have free slots. */
const ROUND_MS = 5;
/** How often it looks when no pool has a free slot (leases and schedules still come due). */
const IDLE_LOOK_MS = 200;
/** Configuration retries, worker refresh, schedules and retention. */
const MAINTAIN_MS = 1_000;
/** Claims of one queue in flight at once (pipelined through Raft). */
const CLAIMS_IN_FLIGHT_MAX = 2;
/** Bound on one command or query of the dispatcher. */
const CALL_TIMEOUT_MS = 5_000;
/** Claims, recoveries and ticks are repeated by the loop itself: no session, no outcome kept per command. */
const AT_MOST_ONCE = { timeoutMs: CALL_TIMEOUT_MS, session: false } as const;

interface Offer {
  readonly worker: string;
  readonly queue: string;
  readonly node: number;
  free: number;
  readonly ref: ActorRef<PoolMessage>;
}

const refKey = (ref: AnyActorRef): string => `${ref.node ?? 0}/${ref.path}/${ref.uid}`;

export class Dispatcher implements Actor<DispatcherMessage> {
  private calls!: Calls;
  private ctx!: ActorContext<DispatcherMessage>;
  private configured = false;
  private stopped = false;
  private looking = false;
  private lastLook = 0;
  private nextAt = 0;
  private readonly offers = new Map<string, Offer>();
  /** Pools this dispatcher watches: ref → worker id. */
  private readonly watched = new Map<string, string>();
  private readonly inFlight = new Map<string, number>();
  private readonly gone = new Set<string>();
  readonly counters = { claims: 0, claimed: 0, recovered: 0, ticks: 0 };

  constructor(private readonly props: LeaderProps<DispatcherProps>) {}

  preStart(ctx: ActorContext<DispatcherMessage>): void {
    this.ctx = ctx;
    this.calls = gatewayCalls(ctx, this.props.gateway, {
      fence: { group: this.props.group, term: this.props.term },
    });
    ctx.timers.startPeriodic('round', { type: 'round' }, ROUND_MS);
    ctx.timers.startPeriodic('maintain', { type: 'maintain' }, MAINTAIN_MS);
    ctx.tell(ctx.self, { type: 'maintain' });
  }

  postStop(): void {
    this.stopped = true;
  }

  receive(message: DispatcherMessage): void {
    if (this.stopped) return;
    switch (message.type) {
      case 'maintain':
        void this.maintain().catch((error: unknown) => this.failed(error));
        return;
      case 'round':
        this.look();
        return;
      case 'offer': {
        this.watch(message.ref, message.worker);
        const known = this.offers.get(message.worker);
        this.offers.set(message.worker, { ...message, free: message.free });
        if (message.free > 0 && (known === undefined || known.free === 0)) this.look(true);
        return;
      }
      case 'actor-terminated': {
        const worker = this.watched.get(refKey(message.ref));
        if (worker === undefined) return;
        this.watched.delete(refKey(message.ref));
        this.offers.delete(worker);
        this.gone.add(worker);
        void this.recover().catch((error: unknown) => this.failed(error));
        return;
      }
    }
  }

  /** A command refused for its fence: this dispatcher's leadership is over, and it stops. */
  private failed(error: unknown): void {
    if (error instanceof StaleFenceError) {
      this.stopped = true;
      this.ctx.stop();
      return;
    }
    this.ctx.log.debug?.({ err: error, group: this.props.group }, 'dispatcher step failed; retrying');
  }

  private watch(ref: ActorRef<PoolMessage>, worker: string): void {
    const key = refKey(ref);
    if (this.watched.has(key)) return;
    this.watched.set(key, worker);
    this.ctx.watch(ref);
  }

  private async maintain(): Promise<void> {
    const options = { timeoutMs: CALL_TIMEOUT_MS };
    if (!this.configured) {
      const { workers } = await this.calls.execute(
        JobsMachine,
        this.props.group,
        'configure',
        {
          groups: this.props.groups,
          queues: [...this.props.queues],
          dispatcher: { ref: this.ctx.self, node: this.props.nodeId, term: this.props.term },
        },
        options,
      );
      this.configured = true;
      this.greet(workers);
    } else {
      const workers = await this.calls.query(
        JobsMachine,
        this.props.group,
        'workers',
        {},
        {
          ...options,
          consistency: 'lease',
        },
      );
      this.greet(workers);
    }
    await this.calls.execute(JobsMachine, this.props.group, 'tick', {}, AT_MOST_ONCE);
    this.counters.ticks++;
  }

  /** Tells every registered pool not yet watched where this dispatcher runs. */
  private greet(workers: readonly WorkerRecord[]): void {
    for (const w of workers) {
      const ref = w.ref as ActorRef<PoolMessage>;
      if (this.watched.has(refKey(ref))) continue;
      this.watch(ref, w.id);
      this.ctx.tell(ref, {
        type: 'dispatcher',
        group: this.props.group,
        term: this.props.term,
        ref: this.ctx.self,
      });
    }
  }

  /** One look at what is due, unless one is under way or nothing could be done now. */
  private look(now = false): void {
    if (this.looking || !this.configured) return;
    const at = Date.now();
    const anyFree = [...this.offers.values()].some((o) => o.free > 0);
    if (!now && !anyFree && at - this.lastLook < IDLE_LOOK_MS && (this.nextAt === 0 || at < this.nextAt))
      return;
    this.looking = true;
    this.lastLook = at;
    void this.round(at)
      .catch((error: unknown) => this.failed(error))
      .finally(() => {
        this.looking = false;
      });
  }

  private async round(now: number): Promise<void> {
    const pending = await this.calls.query(
      JobsMachine,
      this.props.group,
      'pending',
      { now },
      {
        consistency: 'lease',
        timeoutMs: CALL_TIMEOUT_MS,
      },
    );
    this.nextAt = pending.nextAt;
    if (!pending.configured) {
      this.configured = false;
      return;
    }
    const work: Promise<unknown>[] = [];
    if (pending.expired || this.gone.size > 0) work.push(this.recover());
    if (pending.schedulesDue)
      work.push(this.calls.execute(JobsMachine, this.props.group, 'tick', {}, AT_MOST_ONCE));
    const queues = pending.delayedDue ? this.props.queues.map((q) => q.name) : pending.ready;
    for (const queue of queues) work.push(this.claim(queue));
    await Promise.all(work);
  }

  private async recover(): Promise<void> {
    const workers = [...this.gone];
    const { recovered } = await this.calls.execute(
      JobsMachine,
      this.props.group,
      'recover',
      { workers },
      AT_MOST_ONCE,
    );
    for (const w of workers) this.gone.delete(w);
    this.counters.recovered += recovered;
  }

  /** Claims jobs of `queue` for the pools with free slots, and hands each pool its share. */
  private async claim(queue: string): Promise<void> {
    if ((this.inFlight.get(queue) ?? 0) >= CLAIMS_IN_FLIGHT_MAX) return;
    const offers = [...this.offers.values()].filter((o) => o.queue === queue && o.free > 0);
    if (offers.length === 0) return;
    const grants = offers.map((o) => ({ worker: o.worker, n: o.free }));
    for (const o of offers) o.free = 0;
    this.inFlight.set(queue, (this.inFlight.get(queue) ?? 0) + 1);
    let batch: ClaimBatch;
    try {
      batch = await this.calls.execute(
        JobsMachine,
        this.props.group,
        'claim',
        { queue, grants },
        AT_MOST_ONCE,
      );
    } finally {
      this.inFlight.set(queue, (this.inFlight.get(queue) ?? 1) - 1);
    }
    const jobs = batch.jobs;
    this.counters.claims++;
    this.counters.claimed += jobs.length;
    const byWorker = new Map<string, ClaimedTuple[]>();
    for (const job of jobs) {
      const list = byWorker.get(job[7]) ?? [];
      list.push(job);
      byWorker.set(job[7], list);
    }
    for (const offer of offers) {
      const handed = byWorker.get(offer.worker);
      if (handed !== undefined)
        this.ctx.tell(offer.ref, {
          type: 'run',
          group: this.props.group,
          queue,
          batch: { token: batch.token, leaseUntil: batch.leaseUntil, jobs: handed },
        });
      // Slots not filled return to the offer (the pool's next offer replaces it anyway).
      const granted = grants.find((g) => g.worker === offer.worker)!.n;
      const current = this.offers.get(offer.worker);
      if (current === offer) current.free += granted - (handed?.length ?? 0);
    }
    if (jobs.length > 0 && jobs.length === grants.reduce((n, g) => n + g.n, 0)) this.look(true);
  }
}
