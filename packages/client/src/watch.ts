/**
 * A watch as the application sees it: the changes of a group (one key, a prefix, or all) delivered in log
 * order with their revisions, from a revision or from now, served by any node's replica. When its node fails
 * (the connection closes, the node stops, the subscriber fell behind) the watch resumes on another node from
 * the revision after the last one it delivered: no gap, and nothing delivered twice. What cannot be resumed
 * (the revision was compacted, the filter is malformed, the group does not exist) ends it with a typed error.
 */
import {
  FlotillaError,
  sleep,
  type Topology,
  UnknownGroupError,
  WatchCompactedError,
  type WatchEvent,
  type WatchItem,
  WatchOverflowError,
} from '@flotilla/app';
import { assertNever, type GroupId, type NodeId } from '@flotilla/core';

export interface WatchOptions {
  readonly group: GroupId;
  /** One key, or every key with a prefix; neither: every change of the group. */
  readonly key?: string;
  readonly prefix?: string;
  /** Deliver changes from this revision on (a log index); default: from now. */
  readonly fromRevision?: number;
  /** Progress notifications while idle, every this many ms (default 1000; 0 for none). */
  readonly progressMs?: number;
  /** The node to watch on first (default: any known one). */
  readonly node?: NodeId;
  /** Bound on finding a node that serves the watch again after losing one (default 30 s). */
  readonly resumeTimeoutMs?: number;
}

export interface WatchHandlers {
  /** Changes in log order (every change of a revision in one call); every change up to `through` was delivered. */
  onEvents(events: readonly WatchEvent[], through: number): void;
  /** The watch is live on `node`: every change from `revision` on will be delivered (again after each resume). */
  onLive?(revision: number, node: NodeId): void;
  /** Nothing matched up to `through` (sent while idle). */
  onProgress?(through: number): void;
  /** The watch ended for good (it will not resume): compacted, malformed, unknown group, or no node for too long. */
  onError?(error: Error): void;
}

/** What a watch needs of the client's wire. */
export interface WatchPort {
  readonly topology: Topology | undefined;
  refreshTopology(): Promise<Topology>;
  stream(
    address: string,
    op: 'watch',
    args: Record<string, unknown>,
    onItem: (item: WatchItem) => void,
  ): { id: number; done: Promise<unknown> };
  call(address: string, op: 'unwatch', args: Record<string, unknown>): Promise<unknown>;
}

const RESUME_TIMEOUT_MS = 30_000;
/** Wait between two attempts to resume (grows to the max while attempts fail). */
const RESUME_BACKOFF_MS = 20;
const RESUME_BACKOFF_MAX_MS = 1_000;
/** Attempts after `UnknownGroupError` (the group may be being created, or this node not yet hosting it). */
const UNKNOWN_GROUP_ATTEMPTS = 5;

/**
 * Errors after which the watch cannot go on from where it was: the application must decide. (A compacted
 * revision is final only once every node said so: a node that restarted keeps a shorter history than others.)
 */
function isFinal(error: unknown): boolean {
  if (!(error instanceof FlotillaError)) return false;
  switch (error.code) {
    case 'FLOTILLA_PROTOCOL':
    case 'FLOTILLA_SCHEMA':
      return true;
    default:
      return false;
  }
}

export class Watch {
  /** The next revision to deliver (undefined until the first node said where "now" is). */
  nextRevision: number | undefined;
  /** The node serving it now (0 while resuming). */
  node: NodeId = 0;
  /** Times the watch moved to another node (or re-opened on the same one). */
  resumes = 0;
  private closed = false;
  private current: { address: string; id: number } | undefined;
  /** Settles when the watch ends: with undefined after `close()`, with the error that ended it otherwise. */
  readonly ended: Promise<Error | undefined>;

  constructor(
    private readonly port: WatchPort,
    private readonly options: WatchOptions,
    private readonly handlers: WatchHandlers,
  ) {
    this.nextRevision = options.fromRevision;
    this.ended = this.run();
  }

  /** Stops the watch (the node is told, so that it forgets it at once). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const current = this.current;
    if (current) void this.port.call(current.address, 'unwatch', { watch: current.id }).catch(() => {});
  }

  private async run(): Promise<Error | undefined> {
    const avoid = new Set<NodeId>();
    let preferred = this.options.node;
    let failures = 0;
    let unknownGroup = 0;
    let lostAt: number | undefined;
    const compactedOn = new Set<NodeId>();
    let compacted: WatchCompactedError | undefined;
    while (!this.closed) {
      const target = await this.pickNode(preferred, avoid);
      preferred = undefined;
      if (target !== undefined) {
        let live = false;
        const args = {
          group: this.options.group,
          ...(this.options.key === undefined ? {} : { key: this.options.key }),
          ...(this.options.prefix === undefined ? {} : { prefix: this.options.prefix }),
          ...(this.nextRevision === undefined ? {} : { fromRevision: this.nextRevision }),
          progressMs: this.options.progressMs ?? 1_000,
        };
        const { id, done } = this.port.stream(target.address, 'watch', args, (item) => {
          if (item[0] === 'live') {
            live = true;
            failures = 0;
            unknownGroup = 0;
            lostAt = undefined;
            avoid.clear();
            this.node = target.node;
          }
          this.receive(item, target.node);
        });
        this.current = { address: target.address, id };
        try {
          await done;
          return undefined; // unwatched
        } catch (error) {
          this.current = undefined;
          this.node = 0;
          if (this.closed) return undefined;
          if (isFinal(error)) return this.fail(error as Error);
          if (error instanceof WatchCompactedError) {
            compacted = error;
            compactedOn.add(target.node);
            const known = Object.keys(this.port.topology?.nodes ?? {}).length;
            if (compactedOn.size >= known) return this.fail(error);
          }
          if (error instanceof UnknownGroupError && ++unknownGroup >= UNKNOWN_GROUP_ATTEMPTS)
            return this.fail(error);
          // A subscriber that fell behind resumes where the node says; other failures move to another node.
          if (!(error instanceof WatchOverflowError)) avoid.add(target.node);
          if (live) this.resumes++;
        }
      }
      lostAt ??= performance.now();
      if (performance.now() - lostAt > (this.options.resumeTimeoutMs ?? RESUME_TIMEOUT_MS))
        return this.fail(
          compacted ??
            new FlotillaError(
              'FLOTILLA_TIMEOUT',
              `watch on ${this.options.group}: no node served it in time`,
            ),
        );
      failures++;
      await sleep(Math.min(RESUME_BACKOFF_MAX_MS, RESUME_BACKOFF_MS * 2 ** Math.min(failures - 1, 10)));
      if (failures % 3 === 0) await this.port.refreshTopology().catch(() => {});
    }
    return undefined;
  }

  private fail(error: Error): Error {
    this.closed = true;
    this.handlers.onError?.(error);
    return error;
  }

  private receive(item: WatchItem, node: NodeId): void {
    switch (item[0]) {
      case 'live':
        this.nextRevision ??= item[1];
        this.handlers.onLive?.(item[1], node);
        return;
      case 'events': {
        const next = this.nextRevision ?? 0;
        // After a resume a node starts at `nextRevision`; anything older was delivered already.
        const fresh =
          item[2][0] !== undefined && item[2][0][0] < next ? item[2].filter((e) => e[0] >= next) : item[2];
        this.nextRevision = Math.max(next, item[1] + 1);
        if (fresh.length > 0) this.handlers.onEvents(fresh, item[1]);
        return;
      }
      case 'progress':
        this.nextRevision = Math.max(this.nextRevision ?? 0, item[1] + 1);
        this.handlers.onProgress?.(item[1]);
        return;
      default:
        assertNever(item);
    }
  }

  /** The preferred node if known, else a known node not failed recently (any, when all failed). */
  private async pickNode(
    preferred: NodeId | undefined,
    avoid: Set<NodeId>,
  ): Promise<{ node: NodeId; address: string } | undefined> {
    let topology = this.port.topology;
    if (topology === undefined) topology = await this.port.refreshTopology().catch(() => undefined);
    if (topology === undefined) return undefined;
    const nodes = Object.entries(topology.nodes).map(([id, address]) => ({ node: Number(id), address }));
    if (preferred !== undefined) {
      const found = nodes.find((n) => n.node === preferred);
      if (found) return found;
    }
    let pool = nodes.filter((n) => !avoid.has(n.node));
    if (pool.length === 0) {
      avoid.clear();
      pool = nodes;
    }
    return pool[Math.floor(Math.random() * pool.length)];
  }
}
