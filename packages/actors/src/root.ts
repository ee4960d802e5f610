/**
 * The root supervisor on the main thread: starts one host task per thread, wires the port mesh between hosts,
 * and restarts a host that died (or whose supervisor escalated) within the host restart intensity.
 */
import { MessageChannel } from 'node:worker_threads';
import type { HostConfig, SystemSettings } from './config.ts';
import { errorText, HostFailedError, RestartLimitError, rebuildError, SpawnError } from './errors.ts';
import type { DeadLetter, SystemEvent } from './events.ts';
import { type ActorId, type Control, F_CONTROL, type HostRequest, type SpawnSpec } from './frames.ts';
import { HostPools } from './host-pool.ts';
import type { HostTask } from './host-task.ts';
import type { Link } from './link.ts';
import type { Runtime } from './runtime.ts';
import { admitRestart, backoffDelayMs } from './supervision.ts';

export type HostState = 'starting' | 'up' | 'down' | 'ending' | 'ended';

/** How often a starting host's pool is checked for having lost its workers. */
const START_CHECK_INTERVAL_MS = 50;

interface PendingRequest {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** One life of one host thread. A restart is a new attempt on the same slot. */
interface HostAttempt {
  readonly slot: number;
  readonly generation: number;
  readonly link: Link;
  readonly abort: AbortController;
  readonly requests: Map<number, PendingRequest>;
  readonly ready: Promise<void>;
  readonly markReady: () => void;
  readonly failReady: (error: Error) => void;
  state: HostState;
  task: Promise<unknown>;
  /** Watches a starting host until it is ready (see `checkStart`). */
  startTimer: ReturnType<typeof setInterval> | undefined;
}

export interface RootHooks {
  emit(event: SystemEvent): void;
  deadLetters(letters: readonly DeadLetter[], droppedCount: number): void;
  /** A top-level actor stopped for good on a host. */
  topLevelStopped(path: string, uid: number): void;
  /** Spawn specs of the top-level actors that live on `slot` (re-spawned after a restart). */
  specsOf(slot: number): SpawnSpec[];
  /** A spec could not be re-spawned (its class is gone): forget it. */
  forget(path: string): void;
  /** Escalation past the root: the system fails and shuts down. */
  failed(error: Error): void;
}

export class Root {
  private readonly settings: SystemSettings;
  private readonly hostConfig: HostConfig;
  private readonly runtime: Runtime;
  private readonly hooks: RootHooks;
  private readonly pools: HostPools;
  private readonly hosts: HostAttempt[] = [];
  private readonly restartLogs: number[][] = [];
  private readonly restartTimers = new Set<ReturnType<typeof setTimeout>>();
  private readonly connected = new Set<string>();
  private reqSeq = 0;
  private stopping = false;
  /** Host tasks that rejected while the system was shutting down (a clean shutdown has none). */
  shutdownRejections = 0;

  constructor(settings: SystemSettings, hostConfig: HostConfig, runtime: Runtime, hooks: RootHooks) {
    this.settings = settings;
    this.hostConfig = hostConfig;
    this.runtime = runtime;
    this.hooks = hooks;
    this.pools = new HostPools({
      size: settings.hosts,
      resourceLimits: settings.resourceLimits,
      preload: settings.hostPreload,
    });
  }

  get threadCount(): number {
    return this.pools.threadCount;
  }

  get poolCount(): number {
    return this.pools.poolCount;
  }

  async start(): Promise<void> {
    const attempts: HostAttempt[] = [];
    for (let slot = 0; slot < this.settings.hosts; slot++) {
      this.restartLogs[slot] = [];
      attempts.push(this.launch(slot, 1));
    }
    await Promise.all(attempts.map((a) => this.bringUp(a)));
  }

  state(slot: number): HostState | undefined {
    return this.hosts[slot]?.state;
  }

  generation(slot: number): number {
    return this.hosts[slot]?.generation ?? 0;
  }

  /** Resolves once `slot` is up (waiting out a restart), rejects if it does not come up in time. */
  async whenUp(slot: number): Promise<void> {
    const deadline = Date.now() + this.settings.hostStartTimeoutMs;
    while (this.hosts[slot]?.state !== 'up') {
      if (this.stopping || Date.now() > deadline) throw new HostFailedError(slot, 'not up');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  request(slot: number, make: (reqId: number) => HostRequest, timeoutMs?: number): Promise<void> {
    const attempt = this.hosts[slot];
    if (attempt === undefined || attempt.state === 'down' || attempt.state === 'ended') {
      return Promise.reject(new HostFailedError(slot, 'host is down'));
    }
    const reqId = ++this.reqSeq;
    const request = make(reqId);
    const limitMs = timeoutMs ?? this.settings.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        attempt.requests.delete(reqId);
        reject(new HostFailedError(slot, `no answer to ${request.type} within ${limitMs} ms`));
      }, limitMs);
      attempt.requests.set(reqId, { resolve, reject, timer });
      attempt.link.push([F_CONTROL, request]);
    });
  }

  /** Control frames from hosts that are not death-watch frames. */
  onControl(fromSlot: number, control: Control): void {
    const attempt = this.hosts[fromSlot];
    switch (control.type) {
      case 'ready':
        attempt?.markReady();
        return;
      case 'response': {
        const pending = attempt?.requests.get(control.reqId);
        if (attempt === undefined || pending === undefined) return;
        attempt.requests.delete(control.reqId);
        clearTimeout(pending.timer);
        if (control.error === undefined) pending.resolve();
        else pending.reject(rebuildError(control.error));
        return;
      }
      case 'dead-letters':
        this.hooks.deadLetters(control.letters, control.droppedCount);
        return;
      case 'event':
        this.hooks.emit(control.event);
        return;
      case 'escalate':
        void this.restartSupervisor(fromSlot, rebuildError(control.error));
        return;
      case 'top-level-stopped':
        this.hooks.topLevelStopped(control.path, control.uid);
        return;
      default:
        this.runtime.log.warn(
          { control: control.type, slot: fromSlot },
          'unexpected control frame from a host',
        );
    }
  }

  private launch(slot: number, generation: number): HostAttempt {
    const { port1, port2 } = new MessageChannel();
    let markReady!: () => void;
    let failReady!: (error: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    ready.catch(() => {});
    const attempt: HostAttempt = {
      slot,
      generation,
      link: this.runtime.createLink(slot, port1),
      abort: new AbortController(),
      requests: new Map(),
      ready,
      markReady,
      failReady,
      state: 'starting',
      task: Promise.resolve(),
      startTimer: undefined,
    };
    this.hosts[slot] = attempt;
    const task: HostTask = { slot, generation, control: port2, config: this.hostConfig };
    attempt.task = this.pools.run(slot, task, [port2], attempt.abort.signal);
    attempt.task.then(
      () => this.onTaskEnded(attempt),
      (error: unknown) => this.onHostDeath(attempt, error),
    );
    const deadline = Date.now() + this.settings.hostStartTimeoutMs;
    attempt.startTimer = setInterval(() => this.checkStart(attempt, deadline), START_CHECK_INTERVAL_MS);
    return attempt;
  }

  /** Ready → connect to the hosts already up → re-spawn its top-level actors → open it to traffic. */
  private async bringUp(attempt: HostAttempt): Promise<ActorId[]> {
    await attempt.ready;
    clearInterval(attempt.startTimer);
    // The new host gets its ends now (its re-spawned actors may talk at once; messages wait in the ports);
    // the others get theirs once the actors they will talk to exist.
    const deferred = this.upAttempts().map((other) => this.connect(attempt, other));
    const respawned = await this.respawn(attempt);
    if (attempt.state !== 'starting') throw new HostFailedError(attempt.slot, 'died while starting');
    attempt.state = 'up';
    this.runtime.links.register(attempt.link);
    for (const send of deferred) send();
    for (const other of this.upAttempts()) {
      if (other !== attempt && !this.connected.has(pairKey(attempt.slot, other.slot)))
        this.connect(attempt, other)();
    }
    return respawned;
  }

  /** Sends `a` its end of a new channel to `b` now; returns the function that sends `b` the other end. */
  private connect(a: HostAttempt, b: HostAttempt): () => void {
    const { port1, port2 } = new MessageChannel();
    this.connected.add(pairKey(a.slot, b.slot));
    a.link.pushTransferring([F_CONTROL, { type: 'peer-up', slot: b.slot, port: port1 }], [port1]);
    return () =>
      b.link.pushTransferring([F_CONTROL, { type: 'peer-up', slot: a.slot, port: port2 }], [port2]);
  }

  private async respawn(attempt: HostAttempt): Promise<ActorId[]> {
    const respawned: ActorId[] = [];
    const specs = this.hooks.specsOf(attempt.slot);
    await Promise.all(
      specs.map(async (spec) => {
        try {
          await this.request(attempt.slot, (reqId) => ({ type: 'spawn', reqId, spec }));
          respawned.push({ path: spec.path, uid: spec.uid });
        } catch (error) {
          if (!(error instanceof SpawnError)) throw error;
          this.runtime.log.error({ actor: spec.path, err: errorText(error) }, 'cannot re-spawn');
          this.hooks.forget(spec.path);
        }
      }),
    );
    return respawned;
  }

  private upAttempts(): HostAttempt[] {
    return this.hosts.filter((h) => h.state === 'up');
  }

  /**
   * A replacement worker that failed at bootstrap leaves piscina without a worker for our task, for good: seen
   * as a pool with fewer threads than the hosts it must run, or (as a backstop) no `ready` by the deadline.
   */
  private checkStart(attempt: HostAttempt, deadline: number): void {
    if (attempt.state !== 'starting' || this.hosts[attempt.slot] !== attempt) {
      clearInterval(attempt.startTimer);
      return;
    }
    const stuck = this.pools.isStuck(attempt.slot);
    if (!stuck && Date.now() < deadline) return;
    clearInterval(attempt.startTimer);
    const reason = stuck ? 'its pool has no worker left to run it' : 'it did not start in time';
    this.runtime.log.error({ slot: attempt.slot, reason }, 'host cannot start; rebuilding its pool');
    this.pools.markBroken(attempt.slot);
    this.hooks.emit({ type: 'host-pool-rebuilt', slot: attempt.slot });
    attempt.abort.abort(new HostFailedError(attempt.slot, reason));
  }

  private onTaskEnded(attempt: HostAttempt): void {
    if (attempt.state === 'ending') {
      attempt.state = 'ended';
      this.pools.release(attempt.slot);
      return;
    }
    this.onHostDeath(attempt, new HostFailedError(attempt.slot, 'host task ended unexpectedly'));
  }

  private onHostDeath(attempt: HostAttempt, error: unknown): void {
    if (this.hosts[attempt.slot] !== attempt || attempt.state === 'down' || attempt.state === 'ended') return;
    const { slot } = attempt;
    const reason = errorText(error);
    const orderly = this.stopping || attempt.state === 'ending';
    if (orderly) this.shutdownRejections++;
    attempt.state = 'down';
    clearInterval(attempt.startTimer);
    this.pools.release(slot);
    const failure = new HostFailedError(slot, reason);
    attempt.failReady(failure);
    for (const pending of attempt.requests.values()) {
      clearTimeout(pending.timer);
      pending.reject(failure);
    }
    attempt.requests.clear();
    attempt.abort.abort(failure);
    attempt.link.close();
    this.runtime.peerDown(slot, reason);
    for (const other of this.upAttempts()) other.link.push([F_CONTROL, { type: 'peer-down', slot }]);
    for (const key of [...this.connected])
      if (key.split(':').includes(String(slot))) this.connected.delete(key);
    if (orderly) return;
    this.runtime.log.error({ slot, err: reason }, 'host thread died');
    this.hooks.emit({ type: 'host-died', slot, error: reason });
    this.afterIntensity(slot, failure, () => this.relaunch(slot));
  }

  /** Runs `restart` after a backoff if the slot's restart intensity allows it; otherwise the system fails. */
  afterIntensity(slot: number, error: Error, restart: () => void): void {
    const intensity = { kind: 'one-for-one' as const, ...this.settings.hostRestarts };
    const log = this.restartLogs[slot] ?? [];
    this.restartLogs[slot] = log;
    const attempt = admitRestart(log, Date.now(), intensity);
    if (attempt === 0) {
      const { maxRestarts, withinMs } = intensity;
      this.hooks.failed(
        new RestartLimitError(slot < 0 ? 'main' : `host ${slot}`, maxRestarts, withinMs, error.message),
      );
      return;
    }
    const timer = setTimeout(
      () => {
        this.restartTimers.delete(timer);
        if (!this.stopping) restart();
      },
      backoffDelayMs(intensity.backoff, attempt, this.settings.random),
    );
    this.restartTimers.add(timer);
  }

  private relaunch(slot: number): void {
    const attempt = this.launch(slot, this.generation(slot) + 1);
    this.bringUp(attempt).then(
      (respawned) => {
        this.runtime.hostRestarted(slot, respawned);
        for (const other of this.upAttempts()) {
          if (other !== attempt) other.link.push([F_CONTROL, { type: 'host-restarted', slot, respawned }]);
        }
        this.hooks.emit({
          type: 'host-started',
          slot,
          generation: attempt.generation,
          respawned: respawned.length,
        });
      },
      (error: unknown) => this.onHostDeath(attempt, error),
    );
  }

  /** A host's supervisor escalated: stop its top-level actors and spawn them again (same refs). */
  private async restartSupervisor(slot: number, error: Error): Promise<void> {
    if (this.hosts[slot]?.state !== 'up' || this.stopping) return;
    this.hooks.emit({ type: 'host-supervisor-restarted', slot, error: errorText(error) });
    this.afterIntensity(slot, error, () => {
      const attempt = this.hosts[slot];
      if (attempt?.state !== 'up') return;
      this.request(slot, (reqId) => ({ type: 'reset', reqId }))
        .then(() => this.respawn(attempt))
        .catch((failure: unknown) =>
          this.runtime.log.error({ slot, err: errorText(failure) }, 'reset failed'),
        );
    });
  }

  /** Bounded drain of every up host (returns when each is idle or the time is spent). */
  async drain(timeoutMs: number): Promise<void> {
    await Promise.all(
      this.upAttempts().map((a) =>
        this.request(a.slot, (reqId) => ({ type: 'drain', reqId, timeoutMs }), timeoutMs + 1_000).catch(
          () => {},
        ),
      ),
    );
  }

  /** Stops every actor on every host (children first), bounded in time. */
  async stopAll(timeoutMs: number): Promise<void> {
    await Promise.all(
      this.upAttempts().map((a) =>
        this.request(a.slot, (reqId) => ({ type: 'stop-all', reqId, timeoutMs }), timeoutMs).catch(() => {}),
      ),
    );
  }

  /** Ends every host task, then closes the pools; threads that do not end in time are terminated. */
  async close(timeoutMs: number): Promise<void> {
    this.stopping = true;
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    const tasks: Promise<unknown>[] = [];
    for (const attempt of this.hosts) {
      clearInterval(attempt.startTimer);
      if (attempt.state === 'down' || attempt.state === 'ended') continue;
      if (attempt.state === 'starting') {
        attempt.abort.abort(new HostFailedError(attempt.slot, 'system shutting down'));
        continue;
      }
      attempt.state = 'ending';
      attempt.link.push([F_CONTROL, { type: 'end' }]);
      attempt.link.flush();
      tasks.push(attempt.task.catch(() => {}));
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const late = await Promise.race([Promise.all(tasks).then(() => false), timedOut]);
    clearTimeout(timer);
    for (const attempt of this.hosts) attempt.link.close();
    if (late) await this.pools.destroyAll();
    else await this.pools.closeAll();
  }
}

function pairKey(a: number, b: number): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}
