/**
 * What happens when an actor fails: its parent's strategy picks a directive; a restart passes the restart
 * intensity check and waits a jittered exponential backoff; past the limit the failure escalates upwards.
 */
import { assertNever } from '@flotilla/core';
import type { ActorCell } from './cell.ts';
import { errorText, RestartLimitError } from './errors.ts';
import { restartCell, resumeCell, stopCell } from './lifecycle.ts';
import {
  admitRestart,
  backoffDelayMs,
  type Directive,
  decideDirective,
  type SupervisorKind,
  type SupervisorStrategy,
} from './supervision.ts';

/** Suspends the cell and hands the failure to its parent (the guardian hands it to the thread's root link). */
export function failCell(cell: ActorCell, error: unknown): void {
  if (cell.state === 'stopping' || cell.state === 'stopped') {
    cell.log.warn({ err: errorText(error) }, 'failure while stopping (ignored)');
    return;
  }
  cell.state = 'suspended';
  const runtime = cell.runtime;
  runtime.log.warn({ actor: cell.path, err: errorText(error) }, 'actor failed');
  const parent = cell.parent;
  if (parent === undefined) {
    runtime.escalateFromGuardian(error);
    return;
  }
  runtime.emit({ type: 'actor-failed', path: cell.path, slot: runtime.slot, error: errorText(error) });
  supervise(parent, cell, error);
}

function supervise(parent: ActorCell, child: ActorCell, error: unknown): void {
  if (parent.state === 'stopping' || parent.state === 'stopped') {
    void stopCell(child);
    return;
  }
  const strategy = parent.strategy;
  let directive: Directive;
  try {
    directive = decideDirective(strategy, error);
  } catch (decideError) {
    failCell(parent, decideError);
    return;
  }
  switch (directive) {
    case 'resume':
      resumeCell(child);
      return;
    case 'stop':
      void stopCell(child);
      return;
    case 'escalate':
      failCell(parent, error);
      return;
    case 'restart':
      restartChildren(parent, child, strategy, error);
      return;
    default:
      assertNever(directive);
  }
}

function restartChildren(
  parent: ActorCell,
  child: ActorCell,
  strategy: SupervisorStrategy,
  error: unknown,
): void {
  const runtime = parent.runtime;
  const attempt = admitRestart(child.restartLog, runtime.scheduler.now(), strategy);
  if (attempt === 0) {
    const limit = new RestartLimitError(
      child.path,
      strategy.maxRestarts,
      strategy.withinMs,
      errorText(error),
    );
    runtime.emit({ type: 'actor-escalated', path: child.path, slot: runtime.slot, error: limit.message });
    failCell(parent, limit);
    return;
  }
  const delayMs = backoffDelayMs(strategy.backoff, attempt, runtime.random);
  const affected = affectedChildren(parent, child, strategy.kind);
  for (const cell of affected) {
    if (cell.state === 'running' || cell.state === 'starting') cell.state = 'suspended';
    cell.restartPending = true;
  }
  runtime.emit({ type: 'actor-restarted', path: child.path, slot: runtime.slot, attempt, delayMs });
  runtime.scheduler.setTimeout(() => {
    for (const cell of affected) void restartCell(cell, error);
  }, delayMs);
}

function affectedChildren(parent: ActorCell, child: ActorCell, kind: SupervisorKind): ActorCell[] {
  const live = [...parent.children.values()].filter((c) => c.state !== 'stopping' && c.state !== 'stopped');
  switch (kind) {
    case 'one-for-one':
      return [child];
    case 'one-for-all':
      return live;
    case 'rest-for-one': {
      const at = live.indexOf(child);
      return at < 0 ? [child] : live.slice(at);
    }
    default:
      return assertNever(kind);
  }
}
