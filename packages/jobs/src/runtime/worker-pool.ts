/**
 * A queue's worker pool on one node (an actor on a host thread when the node has them): registers with every
 * jobs group, offers its free slots to each group's dispatcher, runs the jobs it is handed (schema-checked
 * input, a timeout per attempt, an `AbortSignal` fired when the claim is lost), extends their leases with
 * batched heartbeats, and reports outcomes in batches, each with its claim's fencing token.
 */
import type { Actor, ActorContext, ActorRef } from '@flotilla/actors';
import { type Calls, gatewayCalls, type NodeActorProps } from '@flotilla/app';
import type { AnyJobType, JobContext, JobsDefinition } from '../define.ts';
import { isJobsDefinition } from '../define.ts';
import { JobsMachine } from '../machine/jobs-machine.ts';
import { type ClaimedJob, expandClaims, LIMITS } from '../model.ts';
import type { DispatcherMessage, PoolMessage } from './protocol.ts';

export interface WorkerPoolProps {
  readonly queue: string;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly groups: number;
  readonly prefix: string;
  readonly definition: { readonly module: string; readonly exportName: string };
}

/** Retry of a registration or of a batch of reports that could not be delivered. */
const RETRY_MS = 250;
/** Heartbeats per lease: a lease survives two lost heartbeats. */
const HEARTBEATS_PER_LEASE = 3;
/** Bound on one report or heartbeat command. */
const CALL_TIMEOUT_MS = 5_000;
/**
 * Reports and heartbeats carry their claim and are checked against it: sent again after an unknown outcome,
 * a report is refused as stale rather than applied twice. No session, no outcome kept per command.
 */
const AT_MOST_ONCE = { timeoutMs: CALL_TIMEOUT_MS, session: false } as const;

interface Running {
  readonly job: ClaimedJob;
  readonly controller: AbortController;
  /** Local time of the last heartbeat the machine accepted (or of the start). */
  lastBeat: number;
  progress: unknown;
  /** The claim was lost: the outcome is not reported. */
  lost: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

type Report =
  | { readonly id: string; readonly token: number; readonly ok: true; readonly result: unknown }
  | {
      readonly id: string;
      readonly token: number;
      readonly ok: false;
      readonly error: string;
      readonly retry: boolean;
    };

/** Why a handler's signal fired. */
export class ClaimLostError extends Error {
  constructor(
    readonly reason: 'lease-lost' | 'cancelled' | 'timeout' | 'stopped',
    detail: string,
  ) {
    super(detail);
    this.name = 'ClaimLostError';
  }
}

export class WorkerPool implements Actor<PoolMessage> {
  private calls!: Calls;
  private ctx!: ActorContext<PoolMessage>;
  private types = new Map<string, AnyJobType>();
  private worker = '';
  private readonly running = new Map<string, Running>();
  /** Claimed jobs waiting for a free slot, by id, oldest first. */
  private readonly backlog = new Map<string, ClaimedJob>();
  private readonly dispatchers = new Map<string, { term: number; ref: ActorRef<DispatcherMessage> }>();
  private readonly unregistered = new Set<string>();
  private readonly reports = new Map<string, Report[]>();
  private flushQueued = false;
  private offersDirty = false;
  private stopped = false;
  readonly counters = { started: 0, completed: 0, failed: 0, refused: 0, lost: 0 };

  constructor(private readonly props: NodeActorProps<WorkerPoolProps>) {}

  async preStart(ctx: ActorContext<PoolMessage>): Promise<void> {
    this.ctx = ctx;
    this.calls = gatewayCalls(ctx, this.props.gateway);
    this.worker = `${this.props.nodeId}/${this.props.queue}/${ctx.self.uid}`;
    const module = (await import(this.props.definition.module)) as Record<string, unknown>;
    const definition = module[this.props.definition.exportName];
    if (!isJobsDefinition(definition))
      throw new TypeError(
        `${this.props.definition.module} does not export a jobs definition as ${this.props.definition.exportName}`,
      );
    this.types = new Map((definition as JobsDefinition).types);
    for (let g = 0; g < this.props.groups; g++) this.unregistered.add(`${this.props.prefix}:${g}`);
    ctx.tell(ctx.self, { type: 'register' });
    ctx.timers.startPeriodic(
      'heartbeat',
      { type: 'heartbeat' },
      Math.max(1, Math.floor(this.props.leaseMs / HEARTBEATS_PER_LEASE)),
    );
  }

  postStop(): void {
    this.stopped = true;
    for (const r of this.running.values())
      this.abort(r, new ClaimLostError('stopped', 'the worker pool stopped'));
  }

  receive(message: PoolMessage): void {
    switch (message.type) {
      case 'register':
        void this.register();
        return;
      case 'dispatcher':
        this.adopt(message.group, message.term, message.ref);
        return;
      case 'run':
        for (const job of expandClaims(message.batch, message.queue, message.group)) {
          if (this.running.has(job.id) || this.backlog.has(job.id)) continue;
          this.backlog.set(job.id, job);
        }
        this.pump();
        return;
      case 'heartbeat':
        void this.beat();
        return;
      case 'flush':
        this.flushQueued = false;
        void this.flush();
        if (this.offersDirty) this.offer();
        return;
    }
  }

  private adopt(group: string, term: number, ref: ActorRef<DispatcherMessage>): void {
    const known = this.dispatchers.get(group);
    if (known !== undefined && known.term > term) return;
    this.dispatchers.set(group, { term, ref });
    this.ctx.tell(ref, this.offerMessage());
  }

  private async register(): Promise<void> {
    for (const group of [...this.unregistered]) {
      try {
        const { dispatcher } = await this.calls.execute(
          JobsMachine,
          group,
          'register',
          {
            worker: this.worker,
            queue: this.props.queue,
            node: this.props.nodeId,
            ref: this.ctx.self,
            concurrency: this.props.concurrency,
          },
          { timeoutMs: CALL_TIMEOUT_MS },
        );
        this.unregistered.delete(group);
        if (dispatcher !== null)
          this.adopt(group, dispatcher.term, dispatcher.ref as ActorRef<DispatcherMessage>);
      } catch {
        // The group has no leader yet: try again.
      }
    }
    if (this.unregistered.size > 0 && !this.stopped)
      this.ctx.timers.startSingle('register', { type: 'register' }, RETRY_MS);
  }

  private get free(): number {
    return Math.max(0, this.props.concurrency - this.running.size - this.backlog.size);
  }

  private offerMessage(): DispatcherMessage {
    return {
      type: 'offer',
      worker: this.worker,
      queue: this.props.queue,
      node: this.props.nodeId,
      free: this.free,
      ref: this.ctx.self,
    };
  }

  private offer(): void {
    this.offersDirty = false;
    const message = this.offerMessage();
    for (const d of this.dispatchers.values()) this.ctx.tell(d.ref, message);
  }

  /** Once per turn: reports go out and free slots are offered. */
  private queueFlush(): void {
    if (this.flushQueued || this.stopped) return;
    this.flushQueued = true;
    this.ctx.tell(this.ctx.self, { type: 'flush' });
  }

  private pump(): void {
    for (const [id, job] of this.backlog) {
      if (this.running.size >= this.props.concurrency) break;
      this.backlog.delete(id);
      this.start(job);
    }
    this.offersDirty = true;
    this.queueFlush();
  }

  private start(job: ClaimedJob): void {
    const type = this.types.get(job.name);
    if (type === undefined) {
      this.report(job, {
        ok: false,
        error: `unknown job type ${job.name} (no handler on node ${this.props.nodeId})`,
        retry: false,
      });
      return;
    }
    const input = type.input.safeParse(job.payload);
    if (!input.success) {
      const issue = input.error.issues[0];
      this.report(job, {
        ok: false,
        error: `payload of ${job.name} fails its schema at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
        retry: false,
      });
      return;
    }
    const controller = new AbortController();
    const entry: Running = {
      job,
      controller,
      lastBeat: performance.now(),
      progress: undefined,
      lost: false,
      timer: undefined,
    };
    this.running.set(job.id, entry);
    this.counters.started++;
    if (job.timeoutMs > 0)
      entry.timer = setTimeout(
        () =>
          this.abort(
            entry,
            new ClaimLostError('timeout', `attempt ${job.attempt} timed out after ${job.timeoutMs} ms`),
          ),
        job.timeoutMs,
      );
    const jobCtx: JobContext = {
      id: job.id,
      queue: job.queue,
      name: job.name,
      attempt: job.attempt,
      attempts: job.attempts,
      token: job.token,
      group: job.group,
      worker: this.worker,
      signal: controller.signal,
      progress: (value) => {
        entry.progress = value;
      },
    };
    let work: Promise<unknown>;
    try {
      work = Promise.resolve(type.handler(input.data, jobCtx));
    } catch (error) {
      work = Promise.reject(error);
    }
    // A handler that ignores its signal still ends its attempt when the signal fires.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    Promise.race([work, aborted]).then(
      (result) => this.done(entry, type, { ok: true, result }),
      (error: unknown) => this.done(entry, type, { ok: false, error }),
    );
  }

  private abort(entry: Running, reason: ClaimLostError): void {
    if (reason.reason === 'lease-lost' || reason.reason === 'stopped') entry.lost = true;
    if (!entry.controller.signal.aborted) entry.controller.abort(reason);
  }

  private done(
    entry: Running,
    type: AnyJobType,
    outcome: { ok: true; result: unknown } | { ok: false; error: unknown },
  ): void {
    if (this.running.get(entry.job.id) !== entry) return;
    this.running.delete(entry.job.id);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    if (entry.lost) {
      this.counters.lost++;
    } else if (outcome.ok) {
      const output = type.output.safeParse(outcome.result);
      if (output.success) this.report(entry.job, { ok: true, result: output.data });
      else
        this.report(entry.job, {
          ok: false,
          error: `result of ${entry.job.name} fails its schema: ${output.error.issues[0]?.message}`,
          retry: false,
        });
    } else {
      const error = outcome.error;
      const cancelled = error instanceof ClaimLostError && error.reason === 'cancelled';
      this.report(entry.job, {
        ok: false,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        retry: !cancelled && !(error instanceof NonRetryableError),
      });
    }
    this.pump();
  }

  private report(
    job: ClaimedJob,
    outcome: { ok: true; result: unknown } | { ok: false; error: string; retry: boolean },
  ): void {
    if (outcome.ok) this.counters.completed++;
    else this.counters.failed++;
    const list = this.reports.get(job.group) ?? [];
    list.push({ id: job.id, token: job.token, ...outcome } as Report);
    this.reports.set(job.group, list);
    this.queueFlush();
  }

  private async flush(): Promise<void> {
    const batches = [...this.reports];
    this.reports.clear();
    await Promise.all(
      batches.map(async ([group, items]) => {
        for (let i = 0; i < items.length; i += LIMITS.reportBatchMax) {
          const chunk = items.slice(i, i + LIMITS.reportBatchMax);
          try {
            const results = await this.calls.execute(
              JobsMachine,
              group,
              'finish',
              { items: chunk },
              AT_MOST_ONCE,
            );
            for (const r of results) if (!r.accepted) this.counters.refused++;
          } catch {
            // Not delivered (no leader, a timeout): again later. A report applied twice is refused the second time.
            const list = this.reports.get(group) ?? [];
            list.push(...chunk);
            this.reports.set(group, list);
            if (!this.stopped) this.ctx.timers.startSingle('flush-retry', { type: 'flush' }, RETRY_MS);
          }
        }
      }),
    );
  }

  /** Extends every held claim; a claim the machine no longer honours aborts its handler. */
  private async beat(): Promise<void> {
    const now = performance.now();
    for (const entry of this.running.values()) {
      if (now - entry.lastBeat > this.props.leaseMs)
        this.abort(
          entry,
          new ClaimLostError('lease-lost', `no heartbeat accepted for ${this.props.leaseMs} ms`),
        );
    }
    const byGroup = new Map<string, { id: string; token: number; progress?: unknown }[]>();
    const held = [...this.running.values()].map((r) => ({ job: r.job, progress: r.progress }));
    for (const job of this.backlog.values()) held.push({ job, progress: undefined });
    for (const { job, progress } of held) {
      const list = byGroup.get(job.group) ?? [];
      list.push({ id: job.id, token: job.token, ...(progress === undefined ? {} : { progress }) });
      byGroup.set(job.group, list);
    }
    await Promise.all(
      [...byGroup].map(async ([group, items]) => {
        for (let i = 0; i < items.length; i += LIMITS.reportBatchMax) {
          const chunk = items.slice(i, i + LIMITS.reportBatchMax);
          let results: { id: string; ok: boolean; cancel: boolean }[];
          try {
            results = await this.calls.execute(
              JobsMachine,
              group,
              'heartbeat',
              { items: chunk },
              AT_MOST_ONCE,
            );
          } catch {
            continue;
          }
          const at = performance.now();
          for (const r of results) {
            const entry = this.running.get(r.id);
            if (!r.ok) {
              if (entry !== undefined)
                this.abort(entry, new ClaimLostError('lease-lost', 'the claim is no longer valid'));
              if (this.backlog.delete(r.id)) this.counters.lost++;
              continue;
            }
            if (entry === undefined) continue;
            entry.lastBeat = at;
            if (r.cancel) this.abort(entry, new ClaimLostError('cancelled', 'the job was cancelled'));
          }
        }
      }),
    );
  }
}

/** Thrown by a handler: the attempt fails and the job is not retried (it goes to the dead state). */
export class NonRetryableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonRetryableError';
  }
}
