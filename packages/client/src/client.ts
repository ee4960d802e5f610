/**
 * The client library: connects to any node over WebSocket and offers the typed calls of `Calls` (execute,
 * query, entity refs) plus the admin calls. Requests go to each group's leader (learned from the topology and
 * from leader hints), are pipelined on one connection per node and batched per turn, and are retried with
 * backoff within a bounded timeout; every command carries a client session, so a retry applies once.
 */

import { readFileSync } from 'node:fs';
import {
  type ApiOp,
  type CallOptions,
  type CallPort,
  Calls,
  type CommandRequest,
  groupOfTarget,
  isRetryable,
  type KindRef,
  kindName,
  type QueryRequest,
  RequestTimeoutError,
  type RetryPolicy,
  retrying,
  type Session,
  type Target,
  type Topology,
  UnknownGroupError,
  type WatchItem,
} from '@flotilla/app';
import { FlotillaError, type GroupId, type NodeId, NotLeaderError } from '@flotilla/core';
import { Connection, type Dial } from './connection.ts';
import { Watch, type WatchHandlers, type WatchOptions } from './watch.ts';

export interface ClientOptions {
  /** API addresses (host:port) of some nodes; the client learns the others from the topology. */
  readonly addresses: readonly string[];
  /** Bound on each call, retries included. Default 5000. */
  readonly timeoutMs?: number;
  /** Session id; default 72 random bits. Reuse it only for one client at a time. */
  readonly clientId?: string;
  /** The token of a client the nodes' `[[security.clients]]` list; default `FLOTILLA_TOKEN` from the environment. */
  readonly token?: string;
  /** Nodes serve `wss`: trust this CA (PEM) besides the system's; default `FLOTILLA_CA` (a file) if set. */
  readonly tls?: { readonly ca?: string | Buffer };
}

/** Shortest slice of a call's timeout given to one attempt. */
const ATTEMPT_MS_MIN = 500;
/** Retries of one call (besides its timeout). */
const RETRY: RetryPolicy = { baseMs: 10, maxMs: 500, attemptsMax: 1_000 };
/** The topology is fetched again every this many failed attempts of a call. */
const TOPOLOGY_REFRESH_EVERY = 4;
/** Attempts a call makes after `UnknownGroupError` (the group may be being created): then it is reported. */
const UNKNOWN_GROUP_RETRIES = 3;
/** Bound on fetching the topology from one node. */
const TOPOLOGY_TIMEOUT_MS = 2_000;

/** The client's side of the wire: connections, topology, leaders, and the retry loop. */
class ClientPort implements CallPort {
  private readonly connections = new Map<string, Connection>();
  private readonly leaders = new Map<GroupId, NodeId>();
  topology: Topology | undefined;

  constructor(
    private readonly seeds: readonly string[],
    readonly timeoutMs: number,
    private readonly dial: Dial = { token: undefined, tls: undefined },
  ) {}

  command(request: CommandRequest, options: CallOptions): Promise<unknown> {
    return this.routed(request.kind, request.target, options, (group) => ({
      op: 'execute',
      args: {
        kind: request.kind,
        group,
        payload: request.payload,
        ...(request.session ? { session: sessionTuple(request.session) } : {}),
        ...(request.fence ? { fence: [request.fence.group, request.fence.term] } : {}),
      },
      // Without a session a command whose outcome is unknown must not be sent twice.
      retryUnknown: request.session !== undefined,
      toLeader: true,
    }));
  }

  query(request: QueryRequest, options: CallOptions): Promise<unknown> {
    return this.routed(request.kind, request.target, options, (group) => ({
      op: 'query',
      args: { kind: request.kind, group, payload: request.payload, consistency: request.consistency },
      retryUnknown: true,
      // A stale read may be answered by any replica.
      toLeader: request.consistency !== 'stale',
    }));
  }

  private async routed(
    kind: string,
    target: CommandRequest['target'],
    options: CallOptions,
    build: (group: GroupId) => {
      op: ApiOp;
      args: Record<string, unknown>;
      retryUnknown: boolean;
      toLeader: boolean;
    },
  ): Promise<unknown> {
    if (this.topology === undefined) await this.refreshTopology();
    let group: GroupId;
    try {
      group = groupOfTarget(target, kind, this.topology?.shards ?? []);
    } catch {
      // A shard set created since the topology was fetched (an application's, just after formation).
      await this.refreshTopology();
      group = groupOfTarget(target, kind, this.topology?.shards ?? []);
    }
    const { op, args, retryUnknown, toLeader } = build(group);
    return toLeader
      ? this.toLeader(group, op, args, options.timeoutMs ?? this.timeoutMs, retryUnknown)
      : this.call(this.anyAddress(), op, args, options.timeoutMs ?? this.timeoutMs);
  }

  /** Sends to the group's leader, following hints; retries within the timeout. */
  toLeader(
    group: GroupId,
    op: ApiOp,
    args: Record<string, unknown>,
    timeoutMs: number,
    retryUnknown: boolean,
  ): Promise<unknown> {
    return retrying(
      performance.now() + timeoutMs,
      RETRY,
      (_n, remainingMs) => {
        const leader = this.leaders.get(group);
        const address = (leader && this.addressOf(leader)) || this.anyAddress();
        // One attempt gets a slice of the time left, so an unresponsive node cannot use up the whole call.
        return this.call(address, op, args, Math.min(remainingMs, Math.max(ATTEMPT_MS_MIN, timeoutMs / 3)));
      },
      (error, n) => {
        if (error instanceof NotLeaderError && error.leaderHint) this.leaders.set(group, error.leaderHint);
        else this.leaders.delete(group);
        // A group created since the topology was fetched may not be known yet where the call landed.
        if (error instanceof UnknownGroupError && n < UNKNOWN_GROUP_RETRIES) {
          void this.refreshTopology().catch(() => {});
          return true;
        }
        // Socket errors (ECONNREFUSED, reset) are not Flotilla errors: that node is gone, try another.
        const connectionError = !(error instanceof FlotillaError);
        if (connectionError || n % TOPOLOGY_REFRESH_EVERY === TOPOLOGY_REFRESH_EVERY - 1)
          void this.refreshTopology().catch(() => {});
        if (connectionError) return retryUnknown;
        return isRetryable(error, retryUnknown);
      },
    );
  }

  async refreshTopology(): Promise<Topology> {
    let lastError: unknown;
    const addresses = [...new Set([...Object.values(this.topology?.nodes ?? {}), ...this.seeds])];
    for (const address of addresses) {
      try {
        const topology = (await this.call(
          address,
          'topology',
          {},
          Math.min(this.timeoutMs, TOPOLOGY_TIMEOUT_MS),
        )) as Topology;
        this.topology = topology;
        for (const [group, leader] of Object.entries(topology.leaders))
          if (leader) this.leaders.set(group, leader);
        return topology;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError instanceof Error
      ? lastError
      : new RequestTimeoutError('', this.timeoutMs, 'no node reachable');
  }

  /** A random known node's address (other than `except`, when there is another). */
  anyAddress(except?: string): string {
    const known = Object.values(this.topology?.nodes ?? {});
    const all = known.length > 0 ? known : this.seeds;
    const others = except === undefined ? all : all.filter((a) => a !== except);
    const pool = others.length > 0 ? others : all;
    return pool[Math.floor(Math.random() * pool.length)]!;
  }

  addressOf(node: NodeId): string | undefined {
    return this.topology?.nodes[String(node)];
  }

  private connection(address: string): Connection {
    let connection = this.connections.get(address);
    if (!connection || connection.closed) {
      connection = new Connection(address, this.dial);
      connection.onLeaderHint = (group, leader) => this.leaders.set(group, leader);
      this.connections.set(address, connection);
    }
    return connection;
  }

  call(
    address: string,
    op: ApiOp,
    args: Record<string, unknown>,
    timeoutMs = this.timeoutMs,
  ): Promise<unknown> {
    return this.connection(address).request(op, args, timeoutMs);
  }

  /** Opens a request that stays open (a watch) on the node at `address`. */
  stream(
    address: string,
    op: ApiOp,
    args: Record<string, unknown>,
    onItem: (item: WatchItem) => void,
  ): { id: number; done: Promise<unknown> } {
    return this.connection(address).stream(op, args, onItem, this.timeoutMs);
  }

  close(): void {
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
  }
}

/** A session as it travels: `[clientId, sequence, ackedBelow]`. */
function sessionTuple(session: Session): [string, number, number] {
  return [session.clientId, session.sequence, session.ackedBelow];
}

/** Bound on membership changes (adding a node waits until it caught up in every group). */
const MEMBERSHIP_TIMEOUT_MS = 120_000;

export class FlotillaClient extends Calls {
  private readonly wire: ClientPort;

  private constructor(port: ClientPort, clientId: string | undefined) {
    super(port, clientId === undefined ? {} : { clientId });
    this.wire = port;
  }

  /** Connects to the first reachable address and learns the topology. */
  static async connect(options: ClientOptions): Promise<FlotillaClient> {
    const ca = process.env.FLOTILLA_CA;
    const tls = options.tls ?? (ca ? { ca: readFileSync(ca) } : undefined);
    const port = new ClientPort(options.addresses, options.timeoutMs ?? 5_000, {
      token: options.token ?? (process.env.FLOTILLA_TOKEN || undefined),
      tls,
    });
    await port.refreshTopology();
    return new FlotillaClient(port, options.clientId);
  }

  get topology(): Topology | undefined {
    return this.wire.topology;
  }

  refreshTopology(): Promise<Topology> {
    return this.wire.refreshTopology();
  }

  /** The group a target of `kind` routes to (a group id, or the shard of a key), by the known topology. */
  groupOf(kind: KindRef, target: Target): GroupId {
    return groupOfTarget(target, kindName(kind), this.wire.topology?.shards ?? []);
  }

  /** A node's status (JSON): its groups with leader, term and indexes, links, counters, alarms. */
  status(address = this.wire.anyAddress()): Promise<unknown> {
    return this.wire.call(address, 'status', {});
  }

  addNode(
    node: { id: number; rpc: string; api: string },
    timeoutMs = MEMBERSHIP_TIMEOUT_MS,
  ): Promise<unknown> {
    return this.wire.call(this.wire.anyAddress(), 'addNode', node, timeoutMs);
  }

  /** Removes node `id` from every group and the catalog; sent to another member (a node cannot remove itself). */
  async removeNode(id: number, timeoutMs = MEMBERSHIP_TIMEOUT_MS): Promise<unknown> {
    if (this.wire.addressOf(id) === undefined) await this.wire.refreshTopology().catch(() => {});
    const leaving = this.wire.addressOf(id);
    return this.wire.call(this.wire.anyAddress(leaving), 'removeNode', { id }, timeoutMs);
  }

  transferLeader(group: GroupId, to: NodeId): Promise<unknown> {
    return this.wire.toLeader(group, 'transfer', { group, to }, this.wire.timeoutMs, true);
  }

  /** Creates a group of a registered machine kind (every node spawns a replica). */
  async createGroup(id: GroupId, kind: string): Promise<{ id: GroupId; kind: string; created: boolean }> {
    const result = await this.wire.call(this.wire.anyAddress(), 'createGroup', { id, kind });
    await this.wire.refreshTopology().catch(() => {});
    return result as { id: GroupId; kind: string; created: boolean };
  }

  /** Creates a shard set `<prefix>:0..count-1` of a kind: keys and entity ids route to it. */
  async createShards(prefix: string, count: number, kind: string): Promise<unknown> {
    const result = await this.wire.call(this.wire.anyAddress(), 'createShards', { prefix, count, kind });
    await this.wire.refreshTopology().catch(() => {});
    return result;
  }

  async deleteGroup(id: GroupId): Promise<{ id: GroupId; deleted: boolean }> {
    const result = await this.wire.call(this.wire.anyAddress(), 'deleteGroup', { id });
    await this.wire.refreshTopology().catch(() => {});
    return result as { id: GroupId; deleted: boolean };
  }

  /** Test-only: tells the node at `address` to drop all traffic with `peers` (needs fault injection on). */
  injectFaults(address: string, peers: readonly NodeId[]): Promise<unknown> {
    return this.wire.call(address, 'faults', { blockPeers: [...peers] });
  }

  /** Test-only: makes the replica of `group` at `address` fail, kills its host thread, or fails its next write. */
  injectActorFault(
    address: string,
    group: GroupId,
    kind: 'crash-actor' | 'exit-thread' | 'fail-storage',
  ): Promise<unknown> {
    return this.wire.call(address, 'faults', { group, kind });
  }

  /**
   * Calls that go to the node at `address` only — no leader following, no retry — under this client's
   * session: a stale read of that node's replica, or a command to a node that may be cut off.
   */
  at(address: string, options: { timeoutMs?: number } = {}): Calls {
    const wire = this.wire;
    const topology = () => wire.topology?.shards ?? [];
    const timeout = (call: CallOptions) => call.timeoutMs ?? options.timeoutMs ?? wire.timeoutMs;
    return this.via({
      command: (request, call) =>
        wire.call(
          address,
          'execute',
          {
            kind: request.kind,
            group: groupOfTarget(request.target, request.kind, topology()),
            payload: request.payload,
            ...(request.session ? { session: sessionTuple(request.session) } : {}),
            ...(request.fence ? { fence: [request.fence.group, request.fence.term] } : {}),
          },
          timeout(call),
        ),
      query: (request, call) =>
        wire.call(
          address,
          'query',
          {
            kind: request.kind,
            group: groupOfTarget(request.target, request.kind, topology()),
            payload: request.payload,
            consistency: request.consistency,
          },
          timeout(call),
        ),
    });
  }

  /**
   * Watches the changes of a group (a key, a prefix, or all of them) from a revision or from now, on any node's
   * replica; it resumes on another node when its node fails, with no gap and nothing delivered twice.
   */
  watch(options: WatchOptions, handlers: WatchHandlers): Watch {
    return new Watch(this.wire, options, handlers);
  }

  /** Sends a raw request to one node (no routing, no retry): for tools and tests. */
  request(address: string, op: ApiOp, args: Record<string, unknown>, timeoutMs?: number): Promise<unknown> {
    return this.wire.call(address, op, args, timeoutMs);
  }

  close(): void {
    this.wire.close();
  }
}
