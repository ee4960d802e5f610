/**
 * Death watch across threads and nodes: who watches whom, `Terminated` delivery, and the bookkeeping when a
 * thread or a node dies (watches of re-spawned actors are re-established, the rest terminate).
 */
import type { ActorCell } from './cell.ts';
import type { ActorId, Control } from './frames.ts';
import type { AnyActorRef } from './protocol.ts';
import type { Runtime } from './runtime.ts';

export function refKey(ref: ActorId): string {
  return `${ref.path}#${ref.uid}`;
}

/** An `ActorId` that may name its node (refs of another node do; refs of this node may or may not). */
type NodeActorId = ActorId & { readonly node?: number | undefined };

export class WatchBook {
  private readonly runtime: Runtime;

  constructor(runtime: Runtime) {
    this.runtime = runtime;
  }

  /**
   * The key of a ref in `watchers` / `watching`: path and uid for an actor of this node (with or without its
   * `node`), plus the node for another node's actor (two nodes may both have a `/a`).
   */
  key(ref: NodeActorId): string {
    const node = ref.node;
    return node === undefined || node === this.runtime.nodeId ? refKey(ref) : `${refKey(ref)}@${node}`;
  }

  /** The node of `ref` if it is another node's, undefined for this node's. */
  private foreignNode(ref: NodeActorId): number | undefined {
    return ref.node === this.runtime.nodeId ? undefined : ref.node;
  }

  watch(watcher: ActorCell, ref: AnyActorRef): void {
    const key = this.key(ref);
    if (watcher.watching.has(key)) return;
    watcher.watching.set(key, ref);
    this.register(watcher, ref);
  }

  unwatch(watcher: ActorCell, ref: AnyActorRef): void {
    if (!watcher.watching.delete(this.key(ref))) return;
    this.unregister(watcher, ref);
  }

  /** The cell stopped: its watchers get `Terminated` (if `notify`), its own watches are withdrawn. */
  retire(cell: ActorCell, notify: boolean): void {
    if (notify) for (const watcher of cell.watchers.values()) this.sendTerminated(watcher, cell.ref);
    cell.watchers.clear();
    for (const ref of cell.watching.values()) this.unregister(cell, ref);
    cell.watching.clear();
  }

  /** Watchers living on thread `slot` of `node` (undefined: this node) died with it. */
  peerDown(slot: number, node: number | undefined): void {
    for (const cell of this.runtime.allCells()) {
      for (const [key, watcher] of cell.watchers) {
        if (watcher.slot === slot && this.foreignNode(watcher) === node) cell.watchers.delete(key);
      }
    }
  }

  /**
   * Thread `slot` of `node` (undefined: this node) is back: re-watch the actors it re-spawned (same path and
   * uid); the others are gone.
   */
  hostRestarted(slot: number, respawned: readonly ActorId[], node: number | undefined): void {
    const alive = new Set(respawned.map((id) => this.key({ path: id.path, uid: id.uid, node })));
    for (const cell of [...this.runtime.allCells()]) {
      for (const [key, ref] of [...cell.watching]) {
        if (ref.slot !== slot || this.foreignNode(ref) !== node) continue;
        if (alive.has(key)) this.register(cell, ref);
        else {
          cell.watching.delete(key);
          cell.offerSystem({ type: 'actor-terminated', ref });
        }
      }
    }
  }

  /** Node `node` is gone: watches of its actors terminate (once), its watchers of ours are forgotten. */
  nodeDown(node: number): void {
    for (const cell of [...this.runtime.allCells()]) {
      for (const [key, watcher] of cell.watchers) if (watcher.node === node) cell.watchers.delete(key);
      for (const [key, ref] of [...cell.watching]) {
        if (ref.node !== node) continue;
        cell.watching.delete(key);
        cell.offerSystem({ type: 'actor-terminated', ref });
      }
    }
  }

  /** Handles death-watch control frames; false for any other frame. */
  onControl(control: Control): boolean {
    switch (control.type) {
      case 'watch': {
        const { target, watcher } = control;
        const cell = this.runtime.liveCell(target.path, target.uid);
        if (cell !== undefined) cell.watchers.set(this.key(watcher), watcher);
        else this.sendTerminated(watcher, this.runtime.refOf(target.path, target.uid, this.runtime.slot));
        return true;
      }
      case 'unwatch':
        this.runtime
          .liveCell(control.target.path, control.target.uid)
          ?.watchers.delete(this.key(control.watcher));
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
    if (ref.slot === runtime.slot && this.foreignNode(ref) === undefined) {
      const target = runtime.liveCell(ref.path, ref.uid);
      if (target !== undefined) target.watchers.set(this.key(watcher.ref), watcher.ref);
      else this.sendTerminated(watcher.ref, ref);
      return;
    }
    // With the link down the answer comes from `hostRestarted` (re-watch, or Terminated); with no way to the
    // node at all, from the refusal (node-route.ts: Terminated at once).
    const target = { path: ref.path, uid: ref.uid };
    runtime.sendControl(ref, { type: 'watch', target, watcher: watcher.ref });
  }

  private unregister(watcher: ActorCell, ref: AnyActorRef): void {
    const runtime = this.runtime;
    if (ref.slot === runtime.slot && this.foreignNode(ref) === undefined) {
      runtime.liveCell(ref.path, ref.uid)?.watchers.delete(this.key(watcher.ref));
      return;
    }
    const target = { path: ref.path, uid: ref.uid };
    runtime.sendControl(ref, { type: 'unwatch', target, watcher: watcher.ref });
  }

  /** Tells `watcher` (on any thread of any node) that `ref` stopped. */
  sendTerminated(watcher: AnyActorRef, ref: AnyActorRef): void {
    const runtime = this.runtime;
    if (watcher.slot === runtime.slot && this.foreignNode(watcher) === undefined) {
      this.terminatedArrived(watcher, ref);
      return;
    }
    const to = { path: watcher.path, uid: watcher.uid };
    runtime.sendControl(watcher, { type: 'terminated', watcher: to, ref });
  }

  private terminatedArrived(watcherId: ActorId, ref: AnyActorRef): void {
    const watcher = this.runtime.liveCell(watcherId.path, watcherId.uid);
    if (watcher === undefined || !watcher.watching.delete(this.key(ref))) return;
    watcher.offerSystem({ type: 'actor-terminated', ref });
  }
}
