/**
 * One command's work on the jobs machine's store: the records it touches (meta, queues) cached and written
 * once at the end, and every state change of a job with the indexes that follow it (ready, delayed, lease,
 * finished lists, counts, tenants, events, parents, schedules, retention). Deterministic: it reads only the
 * store and the entry's context.
 */
import type { ApplyContext, MachineStore, StoreKey } from '@flotilla/app';
import {
  type Claim,
  type ClaimBatch,
  type ClaimedTuple,
  type JobEvent,
  type JobInput,
  type JobRecord,
  type JobState,
  LIMITS,
  shareOf,
} from '../model.ts';
import { encodeJob } from './job-codec.ts';
import { K } from './keys.ts';
import {
  backoffMs,
  claimProblem,
  emptyHistogram,
  isFinished,
  LISTED_STATES,
  type Meta,
  observe,
  type QueueRecord,
  readJob,
  readMeta,
  type ScheduleRecord,
  shardIndexOf,
} from './records.ts';
import { dueOccurrences, occurrenceJob } from './schedules.ts';

/** Claims scanned for those of workers that are gone (bounded per command; a later one does the rest). */
const LEASE_SCAN_MAX = 100_000;

/** Tenants one claim considers (the next claim goes on from where this one stopped). */
const TENANTS_PER_CLAIM = 256;

export class JobsTx {
  readonly meta: Meta;
  private readonly queues = new Map<string, QueueRecord | null>();
  private readonly dirtyQueues = new Set<string>();
  /** Changes of tenants' ready counts, written once (before a range over them, and at the end). */
  private readonly tenantDelta = new Map<string, { queue: string; tenant: string; delta: number }>();
  /** Events of this command, stored as one record of the completion stream. */
  private readonly events: JobEvent[] = [];
  readonly shard: number;

  constructor(
    readonly store: MachineStore,
    readonly ctx: ApplyContext,
  ) {
    this.meta = readMeta(store);
    this.shard = shardIndexOf(ctx.group);
  }

  get now(): number {
    return this.ctx.timestampMs;
  }

  /** Writes the cached records; call once, at the end of the command. */
  commit(): void {
    this.flushTenants();
    if (this.events.length > 0) {
      this.store.put(K.event(this.meta.eventNext++), this.events);
      while (this.meta.eventNext - this.meta.eventFirst > LIMITS.eventRecordsKept)
        this.store.delete(K.event(this.meta.eventFirst++));
    }
    this.store.put(K.meta(), this.meta);
    for (const name of this.dirtyQueues) this.store.put(K.queue(name), this.queues.get(name)!);
  }

  nextSeq(): number {
    return ++this.meta.seq;
  }

  queue(name: string): QueueRecord | undefined {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = this.store.get<QueueRecord>(K.queue(name)) ?? null;
      this.queues.set(name, q);
    }
    return q ?? undefined;
  }

  /** The queue, or the command is refused naming it. */
  requireQueue(name: string): QueueRecord {
    const q = this.queue(name);
    if (q === undefined)
      this.ctx.reject('unknown-queue', `queue ${JSON.stringify(name)} is not configured`, { queue: name });
    return q;
  }

  setQueue(name: string, record: QueueRecord): void {
    this.queues.set(name, record);
    this.dirtyQueues.add(name);
  }

  private touch(name: string): QueueRecord {
    const q = this.queue(name)!;
    this.dirtyQueues.add(name);
    return q;
  }

  job(id: string): JobRecord | undefined {
    return readJob(this.store, id);
  }

  save(job: JobRecord): void {
    this.store.put(K.job(job.id), encodeJob(job));
  }

  private tenantChange(queue: string, tenant: string, delta: number): void {
    const key = `${queue}\u0000${tenant}`;
    const known = this.tenantDelta.get(key);
    if (known === undefined) this.tenantDelta.set(key, { queue, tenant, delta });
    else known.delta += delta;
  }

  private flushTenants(): void {
    for (const { queue, tenant, delta } of this.tenantDelta.values()) {
      if (delta === 0) continue;
      const key = K.tenant(queue, tenant);
      const count = (this.store.get<number>(key) ?? 0) + delta;
      if (count <= 0) this.store.delete(key);
      else this.store.put(key, count);
    }
    this.tenantDelta.clear();
  }

  // ------------------------------------------------------------------------------------------ states

  /** Moves `job` to `state` in the per-state list and the counts (the record is saved by the caller). */
  private enter(job: JobRecord, state: JobState, fresh = false): void {
    const q = this.touch(job.queue);
    if (!fresh) {
      if (LISTED_STATES.has(job.state)) this.store.delete(K.state(job.queue, job.state, job.stateSeq));
      q.counts[job.state]--;
    }
    job.state = state;
    if (LISTED_STATES.has(state)) {
      job.stateSeq = this.nextSeq();
      this.store.put(K.state(job.queue, state, job.stateSeq), job.id);
    }
    q.counts[state]++;
  }

  private makeReady(job: JobRecord, fresh = false): void {
    this.enter(job, 'waiting', fresh);
    job.runAt = Math.max(job.runAt, this.now);
    this.store.put(K.ready(job.queue, job.tenant, job.priority, job.seq), job.id);
    this.tenantChange(job.queue, job.tenant, 1);
  }

  private unready(job: JobRecord): void {
    this.store.delete(K.ready(job.queue, job.tenant, job.priority, job.seq));
    this.tenantChange(job.queue, job.tenant, -1);
  }

  private makeDelayed(job: JobRecord, runAt: number, fresh = false): void {
    this.enter(job, 'delayed', fresh);
    job.runAt = runAt;
    this.store.put(K.delay(runAt, job.seq), job.id);
  }

  /** Ends `job`'s claim: lease and worker indexes, the queue's active count. */
  private release(job: JobRecord): Claim {
    const claim = job.claim!;
    const q = this.touch(job.queue);
    q.run ??= emptyHistogram();
    observe(q.run, this.now - claim.startedAt);
    this.store.delete(K.lease(claim.leaseUntil, job.seq));
    this.touch(job.queue).active--;
    job.claim = undefined;
    return claim;
  }

  /** Leaves whatever waiting state the job is in (ready, delayed) before it moves on. */
  private leaveWaiting(job: JobRecord): void {
    if (job.state === 'waiting') this.unready(job);
    else if (job.state === 'delayed') this.store.delete(K.delay(job.runAt, job.seq));
  }

  // ------------------------------------------------------------------------------------------ enqueue

  /** Creates a job (and its children); returns its id, state, and whether an existing job stood for it. */
  enqueue(
    input: JobInput,
    parentId?: string,
    scheduleId?: string,
  ): { id: string; state: JobState; deduped: boolean } {
    const q = this.requireQueue(input.queue);
    if (this.shard >= q.partitions)
      this.ctx.reject(
        'wrong-partition',
        `queue ${input.queue} spreads over ${q.partitions} jobs groups; ${this.ctx.group} is not one of them`,
        { queue: input.queue },
      );
    const shard = Number(input.id.slice(input.id.lastIndexOf('@') + 1));
    if (shard !== this.shard)
      this.ctx.reject(
        'wrong-group',
        `job ${input.id} belongs to jobs group ${shard}, not ${this.ctx.group}`,
        {
          id: input.id,
        },
      );
    const existing = this.job(input.id);
    if (existing !== undefined) return { id: existing.id, state: existing.state, deduped: true };
    if (input.dedupe !== undefined) {
      const key = K.dedupe(input.queue, input.dedupe.key);
      const held = this.store.get<{ id: string; until: number }>(key);
      if (held !== undefined) {
        const holder = this.job(held.id);
        const live =
          held.until > 0 ? held.until > this.now : holder !== undefined && !isFinished(holder.state);
        if (live && holder !== undefined) return { id: holder.id, state: holder.state, deduped: true };
      }
      this.store.put(key, { id: input.id, until: input.dedupe.ttlMs ? this.now + input.dedupe.ttlMs : 0 });
    }
    const children = input.children ?? [];
    const job: JobRecord = {
      id: input.id,
      queue: input.queue,
      name: input.name,
      payload: input.payload,
      state: 'waiting',
      priority: input.priority,
      tenant: input.tenant,
      seq: this.nextSeq(),
      stateSeq: 0,
      createdAt: this.now,
      runAt: this.now,
      attempts: input.attempts,
      attemptsMade: 0,
      backoff: input.backoff,
      timeoutMs: input.timeoutMs,
      orphans: input.orphans,
      dedupeKey: input.dedupe?.key,
      parentId,
      failParentOnFailure: input.failParentOnFailure,
      childrenLeft: 0,
      scheduleId,
      errors: [],
    };
    this.meta.stats.enqueued++;
    let created = 0;
    for (const child of children) {
      if (child.queue !== input.queue) this.requireQueue(child.queue);
      if (!this.enqueue(child, job.id).deduped) created++;
    }
    job.childrenLeft = created;
    if (created > 0) this.enter(job, 'waiting-children', true);
    else if (input.delayMs > 0) this.makeDelayed(job, this.now + input.delayMs, true);
    else this.makeReady(job, true);
    this.save(job);
    return { id: job.id, state: job.state, deduped: false };
  }

  // ------------------------------------------------------------------------------------------ claim

  /** Delayed jobs whose time came become ready (bounded per command; the next one does the rest). */
  promoteDue(limit: number): number {
    let moved = 0;
    for (const { key, value } of this.store.range<string>({ ...K.delayDue(this.now), limit })) {
      this.store.delete(key);
      const job = this.job(value);
      if (job === undefined || job.state !== 'delayed') continue;
      this.makeReady(job);
      this.save(job);
      moved++;
    }
    return moved;
  }

  /**
   * Claims up to `wanted` ready jobs of `queue`, within its cluster-wide concurrency and rate shares,
   * round-robin over its tenants (best priority, then oldest, within each), for `workers` in turn.
   */
  claim(queue: string, grants: readonly { worker: string; n: number }[]): ClaimBatch {
    const q = this.requireQueue(queue);
    const s = q.settings;
    let wanted = Math.min(
      LIMITS.claimMax,
      grants.reduce((n, g) => n + g.n, 0),
    );
    if (s.concurrency > 0)
      wanted = Math.min(wanted, shareOf(s.concurrency, q.partitions, this.shard) - q.active);
    if (s.rateLimit.max > 0) {
      const window = Math.floor(this.now / s.rateLimit.durationMs) * s.rateLimit.durationMs;
      if (window !== q.windowStart) {
        q.windowStart = window;
        q.windowCount = 0;
        this.touch(queue);
      }
      wanted = Math.min(wanted, shareOf(s.rateLimit.max, q.partitions, this.shard) - q.windowCount);
    }
    const lease = this.now + s.leaseMs;
    const out: ClaimedTuple[] = [];
    const batch = { token: this.ctx.index, leaseUntil: lease, jobs: out };
    if (wanted <= 0) return batch;
    // Slots per tenant, round-robin from the tenant after the one served last; then one range per tenant.
    const tenants = this.tenantsFrom(queue, q.lastTenant ?? undefined);
    const share = new Map<string, number>();
    let left = wanted;
    while (left > 0) {
      let gave = false;
      for (const t of tenants) {
        if (left === 0) break;
        const k = share.get(t.tenant) ?? 0;
        if (k >= t.ready) continue;
        share.set(t.tenant, k + 1);
        q.lastTenant = t.tenant;
        left--;
        gave = true;
      }
      if (!gave) break;
    }
    const slots = grants.map((g) => ({ worker: g.worker, left: g.n }));
    let slot = 0;
    for (const t of tenants) {
      const k = share.get(t.tenant) ?? 0;
      if (k === 0) continue;
      const ids = [...this.store.range<string>({ ...K.readyOf(queue, t.tenant), limit: k })].map(
        (e) => e.value,
      );
      for (const id of ids) {
        while (slots[slot]!.left === 0) slot = (slot + 1) % slots.length;
        const worker = slots[slot]!;
        worker.left--;
        slot = (slot + 1) % slots.length;
        out.push(this.claimOne(this.job(id)!, worker.worker, s.leaseMs));
      }
      this.tenantChange(queue, t.tenant, -ids.length);
    }
    if (s.rateLimit.max > 0) q.windowCount += out.length;
    this.touch(queue);
    return batch;
  }

  /** Tenants with ready jobs (and how many), in round-robin order starting after `after` (bounded). */
  private tenantsFrom(queue: string, after: string | undefined): { tenant: string; ready: number }[] {
    this.flushTenants();
    const out: { tenant: string; ready: number }[] = [];
    const take = (range: { start: StoreKey; end: StoreKey }, until?: string) => {
      for (const { key, value } of this.store.range<number>({
        ...range,
        limit: TENANTS_PER_CLAIM - out.length,
      })) {
        const tenant = (key as readonly (string | number)[])[2] as string;
        if (until !== undefined && tenant > until) break;
        out.push({ tenant, ready: value });
      }
    };
    take(K.tenantsAfter(queue, after));
    if (after !== undefined && out.length < TENANTS_PER_CLAIM) take(K.tenantsAfter(queue, undefined), after);
    return out;
  }

  /** Claims one ready job (its tenant's count is settled by the caller). */
  private claimOne(job: JobRecord, worker: string, leaseMs: number): ClaimedTuple {
    this.store.delete(K.ready(job.queue, job.tenant, job.priority, job.seq));
    this.enter(job, 'active');
    const claim: Claim = {
      worker,
      token: this.ctx.index,
      leaseUntil: this.now + leaseMs,
      term: this.ctx.term,
      startedAt: this.now,
    };
    job.claim = claim;
    const q = this.touch(job.queue);
    q.wait ??= emptyHistogram();
    observe(q.wait, this.now - job.runAt);
    job.lastToken = claim.token;
    job.lastWorker = worker;
    job.startedAt = this.now;
    job.firstStartedAt ??= this.now;
    job.attemptsMade++;
    this.store.put(K.lease(claim.leaseUntil, job.seq), [job.id, worker]);
    this.touch(job.queue).active++;
    this.meta.stats.claimed++;
    this.save(job);
    return [
      job.id,
      job.name,
      job.payload,
      job.attemptsMade,
      job.attempts,
      job.timeoutMs,
      job.createdAt,
      worker,
    ];
  }

  // ------------------------------------------------------------------------------------------ reports

  /** Extends a valid claim's lease (and records progress); false when the claim is no longer valid. */
  heartbeat(
    id: string,
    token: number,
    progress: unknown,
  ): { ok: boolean; cancel: boolean; leaseUntil: number } {
    const job = this.job(id);
    if (claimProblem(job, token, this.now) !== undefined) {
      this.meta.stats.leasesLost++;
      return { ok: false, cancel: false, leaseUntil: 0 };
    }
    const claim = job!.claim!;
    const q = this.queue(job!.queue)!;
    const leaseUntil = this.now + q.settings.leaseMs;
    if (leaseUntil !== claim.leaseUntil) {
      this.store.delete(K.lease(claim.leaseUntil, job!.seq));
      this.store.put(K.lease(leaseUntil, job!.seq), [job!.id, claim.worker]);
      job!.claim = { ...claim, leaseUntil };
    }
    if (progress !== undefined) job!.progress = progress;
    this.save(job!);
    return { ok: true, cancel: job!.cancelRequested === true, leaseUntil };
  }

  /** A worker's completion, checked against the job's claim; a stale one is refused and counted. */
  complete(id: string, token: number, result: unknown): { accepted: boolean; reason?: string } {
    const job = this.job(id);
    const problem = claimProblem(job, token, this.now);
    if (problem !== undefined) {
      this.meta.stats.staleRefused++;
      return { accepted: false, reason: problem };
    }
    this.release(job!);
    job!.result = result;
    this.finished(job!, 'completed', undefined);
    return { accepted: true };
  }

  /** A worker's failure, checked likewise: retried after its backoff while attempts remain, else dead. */
  fail(id: string, token: number, error: string, retry: boolean): { accepted: boolean; reason?: string } {
    const job = this.job(id);
    const problem = claimProblem(job, token, this.now);
    if (problem !== undefined) {
      this.meta.stats.staleRefused++;
      return { accepted: false, reason: problem };
    }
    this.release(job!);
    this.failed(job!, error, retry);
    return { accepted: true };
  }

  /** After a failed attempt (or an orphaned claim): retry, cancel (if asked), or dead. */
  private failed(job: JobRecord, error: string, retry: boolean): void {
    job.errors = [...job.errors, error].slice(-LIMITS.errorsKept);
    if (job.cancelRequested) {
      this.finished(job, 'cancelled', error);
    } else if (retry && job.attemptsMade < job.attempts) {
      const wait = backoffMs(job.backoff, job.attemptsMade, this.ctx.random());
      this.meta.stats.retried++;
      this.event(job, 'retrying', undefined, error);
      if (wait > 0) this.makeDelayed(job, this.now + wait);
      else this.makeReady(job);
      this.save(job);
    } else {
      this.finished(job, 'dead', error);
    }
  }

  /** A finished job: its state, its event, its parent, its schedule, and retention of its queue. */
  private finished(
    job: JobRecord,
    state: 'completed' | 'dead' | 'cancelled',
    error: string | undefined,
  ): void {
    this.enter(job, state);
    job.finishedAt = this.now;
    this.meta.stats[state]++;
    this.save(job);
    this.event(job, state, state === 'completed' ? job.result : undefined, error);
    if (job.parentId !== undefined) this.childFinished(job);
    if (job.scheduleId !== undefined) this.scheduledJobFinished(job.scheduleId);
    this.retain(job.queue, state);
  }

  private childFinished(child: JobRecord): void {
    const parent = this.job(child.parentId!);
    if (parent === undefined || parent.state !== 'waiting-children') return;
    if (child.state !== 'completed' && child.failParentOnFailure) {
      this.finished(parent, 'dead', `child ${child.id} ${child.state}`);
      return;
    }
    parent.childrenLeft--;
    if (parent.childrenLeft <= 0) this.makeReady(parent);
    this.save(parent);
  }

  private event(job: JobRecord, state: JobEvent['state'], result: unknown, error: string | undefined): void {
    this.events.push({
      seq: this.meta.eventNext,
      at: this.now,
      id: job.id,
      queue: job.queue,
      name: job.name,
      state,
      attempt: job.attemptsMade,
      ...(result === undefined ? {} : { result }),
      ...(error === undefined ? {} : { error }),
    });
  }

  /** Keeps the newest `count` finished jobs of a state (bounded work per command, from where it stopped). */
  private retain(queue: string, state: 'completed' | 'dead' | 'cancelled'): void {
    const q = this.queue(queue)!;
    const keep = state === 'completed' ? q.settings.keepCompleted.count : q.settings.keepDead.count;
    let excess = Math.min(q.counts[state] - keep, LIMITS.retentionBatchMax);
    if (excess <= 0) return;
    const trimmed = q.trimmed?.[state];
    for (const { key, value } of this.store.range<string>({
      ...K.stateOf(queue, state, trimmed),
      limit: excess,
    })) {
      const job = this.job(value);
      if (job !== undefined) this.remove(job);
      q.trimmed = { ...q.trimmed, [state]: (key as readonly number[])[3]! };
      if (--excess <= 0) break;
    }
    this.touch(queue);
  }

  /** Removes a finished job and its list entry. */
  remove(job: JobRecord): void {
    if (LISTED_STATES.has(job.state)) this.store.delete(K.state(job.queue, job.state, job.stateSeq));
    this.touch(job.queue).counts[job.state]--;
    this.store.delete(K.job(job.id));
  }

  /** Finished jobs older than their queue's `ageMs` (bounded per command). */
  retainByAge(limit: number): number {
    let removed = 0;
    for (const { value: q } of this.store.range<QueueRecord>({ ...K.queues() })) {
      for (const state of ['completed', 'dead', 'cancelled'] as const) {
        const ageMs = state === 'completed' ? q.settings.keepCompleted.ageMs : q.settings.keepDead.ageMs;
        if (ageMs === 0) continue;
        for (const { value } of this.store.range<string>({ ...K.stateOf(q.settings.name, state), limit })) {
          const job = this.job(value);
          if (job === undefined || (job.finishedAt ?? 0) > this.now - ageMs) break;
          this.remove(job);
          if (++removed >= limit) return removed;
        }
      }
    }
    return removed;
  }

  // ------------------------------------------------------------------------------------------ recovery

  /** Claims whose lease ended, and every claim of `workers` (gone): each is a failed attempt. */
  recover(workers: readonly string[], limit: number): number {
    let recovered = 0;
    const orphan = (id: string, why: string) => {
      const job = this.job(id);
      if (job === undefined || job.state !== 'active' || job.claim === undefined) return;
      const claim = this.release(job);
      this.meta.stats.orphansRecovered++;
      this.failed(
        job,
        `${why} (worker ${claim.worker}, attempt ${job.attemptsMade})`,
        job.orphans === 'retry',
      );
      recovered++;
    };
    if (workers.length > 0) {
      const gone = new Set(workers);
      for (const { value } of this.store.range<[string, string]>({ ...K.leaseAll(), limit: LEASE_SCAN_MAX }))
        if (gone.has(value[1])) orphan(value[0], 'worker gone');
      for (const worker of workers) this.store.delete(K.worker(worker));
    }
    for (const { value } of this.store.range<[string, string]>({ ...K.leaseExpired(this.now), limit }))
      orphan(value[0], 'lease expired');
    return recovered;
  }

  // ------------------------------------------------------------------------------------------ cancel, retry

  cancel(id: string): JobState {
    const job = this.job(id);
    if (job === undefined) this.ctx.reject('unknown-job', `no job ${id}`, { id });
    switch (job.state) {
      case 'waiting':
      case 'delayed':
        this.leaveWaiting(job);
        this.finished(job, 'cancelled', 'cancelled');
        return job.state;
      case 'waiting-children':
        this.finished(job, 'cancelled', 'cancelled');
        return job.state;
      case 'active':
        job.cancelRequested = true;
        this.save(job);
        return job.state;
      case 'completed':
      case 'dead':
      case 'cancelled':
        this.ctx.reject('not-cancellable', `job ${id} is ${job.state}`, { id, state: job.state });
    }
  }

  retry(id: string): JobState {
    const job = this.job(id);
    if (job === undefined) this.ctx.reject('unknown-job', `no job ${id}`, { id });
    if (job.state !== 'dead' && job.state !== 'cancelled')
      this.ctx.reject('not-retryable', `job ${id} is ${job.state}; only dead or cancelled jobs are retried`, {
        id,
        state: job.state,
      });
    job.attemptsMade = 0;
    job.cancelRequested = undefined;
    job.finishedAt = undefined;
    this.makeReady(job);
    this.save(job);
    return job.state;
  }

  // ------------------------------------------------------------------------------------------ schedules

  /** Fires every schedule due at `now` (bounded); returns the jobs enqueued. */
  fireSchedules(limit: number): number {
    let enqueued = 0;
    for (const { key, value: id } of this.store.range<string>({ ...K.dueBy(this.now), limit })) {
      this.store.delete(key);
      const record = this.store.get<ScheduleRecord>(K.schedule(id));
      if (record === undefined || record.nextFireAt === null) continue;
      const { fire, next } = dueOccurrences(record.spec, record.nextFireAt, this.now);
      for (const at of fire) if (this.occurrence(record, at)) enqueued++;
      record.nextFireAt = next ?? null;
      if (next !== undefined) this.store.put(K.due(next, id), id);
      this.store.put(K.schedule(id), record);
    }
    return enqueued;
  }

  /** One occurrence, under the schedule's overlap policy; true when it enqueued a job. */
  private occurrence(record: ScheduleRecord, fireAt: number): boolean {
    record.lastFireAt = fireAt;
    const running = record.lastJobId === null ? undefined : this.job(record.lastJobId);
    const busy = running !== undefined && !isFinished(running.state);
    if (busy && record.spec.overlap !== 'allow') {
      if (record.spec.overlap === 'buffer' && record.buffered === null) record.buffered = fireAt;
      else {
        record.skipped++;
        this.meta.stats.scheduledSkipped++;
      }
      return false;
    }
    this.enqueueOccurrence(record, fireAt);
    return true;
  }

  /** Enqueues the job of an occurrence (its id, made of the schedule and the fire time, makes it once). */
  private enqueueOccurrence(record: ScheduleRecord, fireAt: number): void {
    const { id } = this.enqueue(occurrenceJob(record.spec, fireAt, this.shard), undefined, record.spec.id);
    record.lastJobId = id;
    record.fired++;
    this.meta.stats.scheduledFired++;
  }

  /** The job of a schedule finished: a buffered occurrence runs now. */
  private scheduledJobFinished(scheduleId: string): void {
    const record = this.store.get<ScheduleRecord>(K.schedule(scheduleId));
    if (record === undefined || record.buffered === null) return;
    const at = record.buffered;
    record.buffered = null;
    this.enqueueOccurrence(record, at);
    this.store.put(K.schedule(scheduleId), record);
  }
}
