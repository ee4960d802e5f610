/**
 * Death watch across threads: who watches whom, `Terminated` delivery, and the bookkeeping when a thread
 * dies and comes back (watches of re-spawned actors are re-established, the rest terminate).
 */
import type { ActorCell } from './cell.ts';
import { type ActorId, type Control, F_CONTROL } from './frames.ts';
import type { AnyActorRef } from './protocol.ts';
import type { Runtime } from './runtime.ts';

export function refKey(ref: ActorId): string {
  return `${ref.path}#${ref.uid}`;
}

export class WatchBook {
  private readonly runtime: Runtime;

  constructor(runtime: Runtime) {
    this.runtime = runtime;
  }

  watch(watcher: ActorCell, ref: AnyActorRef): void {
    const key = refKey(ref);
    if (watcher.watching.has(key)) return;
    watcher.watching.set(key, ref);
    this.register(watcher, ref);
  }

  unwatch(watcher: ActorCell, ref: AnyActorRef): void {
    if (!watcher.watching.delete(refKey(ref))) return;
    this.unregister(watcher, ref);
  }

  /** The cell stopped: its watchers get `Terminated` (if `notify`), its own watches are withdrawn. */
  retire(cell: ActorCell, notify: boolean): void {
    if (notify) for (const watcher of cell.watchers.values()) this.sendTerminated(watcher, cell.ref);
    cell.watchers.clear();
    for (const ref of cell.watching.values()) this.unregister(cell, ref);
    cell.watching.clear();
  }

  /** Watchers living on a dead thread will never hear anything again. */
  peerDown(slot: number): void {
    for (const cell of this.runtime.allCells()) {
      for (const [key, watcher] of cell.watchers) if (watcher.slot === slot) cell.watchers.delete(key);
    }
  }

  /** Thread `slot` is back: re-watch the actors it re-spawned (same path and uid); the others are gone. */
  hostRestarted(slot: number, respawned: readonly ActorId[]): void {
    const alive = new Set(respawned.map(refKey));
    for (const cell of [...this.runtime.allCells()]) {
      for (const [key, ref] of [...cell.watching]) {
        if (ref.slot !== slot) continue;
        if (alive.has(key)) this.register(cell, ref);
        else {
          cell.watching.delete(key);
          cell.offerSystem({ type: 'actor-terminated', ref });
        }
      }
    }
  }

  /** Handles death-watch control frames; false for any other frame. */
  onControl(control: Control): boolean {
    switch (control.type) {
      case 'watch': {
        const target = this.runtime.liveCell(control.target.path, control.target.uid);
        if (target !== undefined) target.watchers.set(refKey(control.watcher), control.watcher);
        else this.sendTerminated(control.watcher, { ...control.target, slot: this.runtime.slot });
        return true;
      }
      case 'unwatch':
        this.runtime
          .liveCell(control.target.path, control.target.uid)
          ?.watchers.delete(refKey(control.watcher));
        return true;
      case 'terminated':
        this.terminatedArrived(control.watcher, control.ref);
        return true;
      default:
        return false;
    }
  }

  private register(watcher: ActorCell, ref: AnyActorRef): void {
    const runtime = this.runtime;
    if (ref.slot === runtime.slot) {
      const target = runtime.liveCell(ref.path, ref.uid);
      if (target !== undefined) target.watchers.set(refKey(watcher.ref), watcher.ref);
      else this.sendTerminated(watcher.ref, ref);
      return;
    }
    // With the link down the answer comes from `hostRestarted` (re-watch, or Terminated).
    const target = { path: ref.path, uid: ref.uid };
    runtime.links.get(ref.slot)?.push([F_CONTROL, { type: 'watch', target, watcher: watcher.ref }]);
  }

  private unregister(watcher: ActorCell, ref: AnyActorRef): void {
    const runtime = this.runtime;
    if (ref.slot === runtime.slot) {
      runtime.liveCell(ref.path, ref.uid)?.watchers.delete(refKey(watcher.ref));
      return;
    }
    const target = { path: ref.path, uid: ref.uid };
    runtime.links.get(ref.slot)?.push([F_CONTROL, { type: 'unwatch', target, watcher: watcher.ref }]);
  }

  private sendTerminated(watcher: AnyActorRef, ref: AnyActorRef): void {
    const runtime = this.runtime;
    if (watcher.slot === runtime.slot) {
      this.terminatedArrived(watcher, ref);
      return;
    }
    const to = { path: watcher.path, uid: watcher.uid };
    runtime.links.get(watcher.slot)?.push([F_CONTROL, { type: 'terminated', watcher: to, ref }]);
  }

  private terminatedArrived(watcherId: ActorId, ref: AnyActorRef): void {
    const watcher = this.runtime.liveCell(watcherId.path, watcherId.uid);
    if (watcher === undefined || !watcher.watching.delete(refKey(ref))) return;
    watcher.offerSystem({ type: 'actor-terminated', ref });
  }
}
