/**
 * Start, stop and restart of one actor cell, each possibly async (class loading, `preStart`, `postStop`).
 * Stops go children first; a restart keeps the mailbox, watchers and ref, and replaces the instance.
 */
import type { ActorCell } from './cell.ts';
import { errorText } from './errors.ts';
import { failCell } from './failure.ts';
import type { AnyActorClass } from './protocol.ts';

/** Runs a step that may return a promise; exactly one of `done` / `failed` runs. */
function runStep(step: () => void | Promise<void>, done: () => void, failed: (error: unknown) => void): void {
  let result: void | Promise<void>;
  try {
    result = step();
  } catch (error) {
    failed(error);
    return;
  }
  if (result !== undefined && typeof result.then === 'function') result.then(done, failed);
  else done();
}

/** Loads the class if needed, constructs the instance, runs `preStart`; mail waits until it is running. */
export function startCell(cell: ActorCell): void {
  cell.state = 'starting';
  cell.busy = true;
  const source = cell.source!;
  const resolved = 'cls' in source ? source.cls : cell.runtime.classes.resolve(source.kind, cell.path);
  if (resolved instanceof Promise) {
    resolved.then(
      (cls) => construct(cell, cls),
      (error) => startFailed(cell, error),
    );
  } else {
    construct(cell, resolved);
  }
}

function construct(cell: ActorCell, cls: AnyActorClass): void {
  if (cell.state !== 'starting') {
    cell.setIdle();
    return;
  }
  let instance: InstanceType<AnyActorClass>;
  try {
    instance = new cls(cell.props as never);
  } catch (error) {
    startFailed(cell, error);
    return;
  }
  cell.instance = instance;
  runStep(
    () => instance.preStart?.(cell.ctx as never),
    () => started(cell),
    (error) => startFailed(cell, error),
  );
}

function started(cell: ActorCell): void {
  cell.setIdle();
  if (cell.state !== 'starting') return;
  cell.state = 'running';
  if (cell.mailbox.size > 0 && !cell.scheduled) cell.runtime.schedule(cell);
}

function startFailed(cell: ActorCell, error: unknown): void {
  cell.setIdle();
  if (cell.state !== 'starting') return;
  failCell(cell, error);
}

/** Stops the actor: waits for the message in progress, stops children, runs `postStop`, retires the cell. */
export function stopCell(cell: ActorCell): Promise<void> {
  cell.stopped ??= runStop(cell);
  return cell.stopped;
}

async function runStop(cell: ActorCell): Promise<void> {
  cell.state = 'stopping';
  await cell.whenIdle();
  await Promise.all([...cell.children.values()].map(stopCell));
  releaseTimers(cell);
  const instance = cell.instance;
  cell.instance = undefined;
  if (instance?.postStop !== undefined) {
    try {
      await instance.postStop(cell.ctx as never);
    } catch (error) {
      cell.log.warn({ err: errorText(error) }, 'postStop failed');
    }
  }
  cell.runtime.retire(cell);
  cell.state = 'stopped';
}

/** Restarts a failed (suspended) cell: `preRestart` on the old instance, children stopped, new instance. */
export async function restartCell(cell: ActorCell, error: unknown): Promise<void> {
  if (!cell.restartPending) return;
  cell.restartPending = false;
  if (cell.state === 'stopping' || cell.state === 'stopped') return;
  cell.state = 'suspended';
  await cell.whenIdle();
  if (cell.state !== 'suspended') return;
  cell.busy = true;
  const old = cell.instance;
  cell.instance = undefined;
  if (old?.preRestart !== undefined) {
    try {
      await old.preRestart(error, cell.ctx as never);
    } catch (hookError) {
      cell.log.warn({ err: errorText(hookError) }, 'preRestart failed');
    }
  }
  await Promise.all([...cell.children.values()].map(stopCell));
  releaseTimers(cell);
  cell.setIdle();
  if (cell.state !== 'suspended') return;
  startCell(cell);
}

/** Lets a failed cell go on with its current instance and state (directive `resume`). */
export function resumeCell(cell: ActorCell): void {
  if (cell.state !== 'suspended' || cell.instance === undefined) return;
  cell.state = 'running';
  if (cell.canRun && !cell.scheduled) cell.runtime.schedule(cell);
}

function releaseTimers(cell: ActorCell): void {
  if (cell.hasTimers) cell.timers.cancelAll();
  cell.runtime.ticker.unsubscribe(cell);
}
