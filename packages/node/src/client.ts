/**
 * The client library: connects to any node over WebSocket, sends commands and reads to each group's leader
 * (learned from the topology and from `NotLeader` hints), and retries with backoff within a bounded timeout.
 * Commands carry a client session (id, sequence), so a retried command is applied exactly once.
 */
import { randomBytes } from 'node:crypto';
import {
  encodeKvCommand,
  FlotillaError,
  type GroupId,
  type KvCommand,
  type KvResult,
  type NodeId,
  NotLeaderError,
  ShardRouter,
} from '@flotilla/core';
import WebSocket from 'ws';
import {
  type ApiOp,
  type ApiRequest,
  type ApiResponse,
  decodeResponses,
  encodeRequests,
  type Topology,
} from './api-protocol.ts';
import { RequestTimeoutError } from './errors.ts';
import type { ReadConsistency } from './executor.ts';
import type { GetResult, Query } from './queries.ts';
import { backoffMs, sleep } from './retry.ts';
import { fromWireError, isRetryable } from './wire-errors.ts';

export interface ClientOptions {
  /** API addresses (host:port) of some nodes; the client learns the others from the topology. */
  readonly addresses: readonly string[];
  /** Bound on each call, retries included. Default 5000. */
  readonly timeoutMs?: number;
  /** Session id; default 72 random bits. Reuse it only for one client at a time. */
  readonly clientId?: string;
  /** Requests in flight per connection before callers wait. Default 4096. */
  readonly inflightPerConnectionMax?: number;
}

interface Pending {
  readonly group: string | undefined;
  readonly deadline: number;
  timeout(): Error;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** Granularity of client timeouts (a call fails at most this much after its deadline). */
const SWEEP_INTERVAL_MS = 20;

class Connection {
  private readonly ws: WebSocket;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private outbox: ApiRequest[] = [];
  readonly opened: Promise<void>;
  closed = false;

  constructor(readonly address: string) {
    this.ws = new WebSocket(`ws://${address}`, { perMessageDeflate: false, maxPayload: 64 << 20 });
    this.ws.binaryType = 'nodebuffer';
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', (error) => reject(error));
    });
    this.opened.catch(() => {});
    this.ws.on('message', (data) => this.onMessage(data as Buffer));
    this.ws.on('close', () => this.fail(new RequestTimeoutError('', 0, `connection to ${address} closed`)));
    this.ws.on('error', () => {});
  }

  get size(): number {
    return this.pending.size;
  }

  /** Told the leader hint of every response (group → node), for routing the next requests. */
  onLeaderHint: ((group: string, leader: number) => void) | undefined;

  private onMessage(data: Buffer): void {
    let responses: ApiResponse[];
    try {
      responses = decodeResponses(data);
    } catch {
      this.ws.terminate();
      return;
    }
    for (const response of responses) {
      const call = this.pending.get(response.id);
      if (!call) continue;
      this.pending.delete(response.id);
      if (response.leader && call.group) this.onLeaderHint?.(call.group, response.leader);
      if (response.ok) call.resolve(response.result);
      else call.reject(fromWireError(response.error));
    }
  }

  /** Requests made in one turn leave as one frame. */
  private enqueue(request: ApiRequest): void {
    if (this.outbox.push(request) > 1) return;
    queueMicrotask(() => {
      const batch = this.outbox;
      this.outbox = [];
      if (!this.closed) this.ws.send(encodeRequests(batch));
    });
  }

  private fail(error: Error): void {
    this.closed = true;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
  }

  /**
   * Sends one request. Its timeout covers opening the connection too (a stopped or unreachable node must
   * not hang a call); deadlines are checked by one sweep per connection, not a timer per request.
   */
  request(op: ApiOp, args: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const call: Pending = {
        group: typeof args.group === 'string' ? args.group : undefined,
        deadline: performance.now() + timeoutMs,
        timeout: () =>
          new RequestTimeoutError(String(args.group ?? ''), timeoutMs, `${op} on ${this.address}`),
        resolve,
        reject,
      };
      this.pending.set(id, call);
      this.startSweep();
      this.opened.then(
        () => {
          if (!this.pending.has(id)) return; // timed out while connecting
          if (this.closed) {
            this.pending.delete(id);
            reject(new RequestTimeoutError('', 0, `connection to ${this.address} closed`));
            return;
          }
          this.enqueue({ id, op, args: { ...args, timeoutMs } });
        },
        (error: unknown) => {
          this.pending.delete(id);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  private sweeper: ReturnType<typeof setInterval> | undefined;

  /** Rejects the calls past their deadline; runs only while calls are pending. */
  private startSweep(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const [id, call] of this.pending) {
        if (call.deadline > now) continue;
        this.pending.delete(id);
        call.reject(call.timeout());
      }
      if (this.pending.size === 0) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    }, SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    this.ws.terminate();
  }
}

/** Shortest slice of a call's timeout given to one attempt. */
const ATTEMPT_MS_MIN = 500;

export class FlotillaClient {
  readonly clientId: string;
  private sequence = 0;
  private readonly connections = new Map<string, Connection>();
  private topologyCache: Topology | undefined;
  private router: ShardRouter | undefined;
  private readonly leaders = new Map<GroupId, NodeId>();
  private readonly timeoutMs: number;
  private readonly seeds: readonly string[];

  private constructor(options: ClientOptions) {
    this.seeds = options.addresses;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    // 72 random bits: unique enough for sessions, and short (it travels in every command).
    this.clientId = options.clientId ?? randomBytes(9).toString('base64url');
  }

  /** Connects to the first reachable address and learns the topology. */
  static async connect(options: ClientOptions): Promise<FlotillaClient> {
    const client = new FlotillaClient(options);
    await client.refreshTopology();
    return client;
  }

  get topology(): Topology | undefined {
    return this.topologyCache;
  }

  /** The `user:k` group owning `key`. */
  groupOf(key: string): GroupId {
    if (!this.router) throw new RequestTimeoutError('', 0, 'no topology yet');
    return this.router.groupOf(key);
  }

  async put(key: string, value: string, group = this.groupOf(key)): Promise<KvResult> {
    return (await this.command(group, { op: 'put', key, value })) as KvResult;
  }

  async delete(key: string, group = this.groupOf(key)): Promise<KvResult> {
    return (await this.command(group, { op: 'delete', key })) as KvResult;
  }

  async get(
    key: string,
    consistency: ReadConsistency = 'linearizable',
    group = this.groupOf(key),
  ): Promise<GetResult> {
    return (await this.read(group, { op: 'get', key }, consistency)) as GetResult;
  }

  /** Sends a key-value command under this client's session (a retry reuses the same sequence). */
  command(group: GroupId, cmd: KvCommand): Promise<unknown> {
    const bytes = encodeKvCommand(cmd, { clientId: this.clientId, sequence: ++this.sequence });
    return this.execute(group, bytes);
  }

  /** Sends an already encoded command to the group's leader. */
  execute(group: GroupId, command: Uint8Array): Promise<unknown> {
    return this.toLeader(group, 'execute', { group, command });
  }

  read(group: GroupId, query: Query, consistency: ReadConsistency = 'linearizable'): Promise<unknown> {
    if (consistency === 'stale') return this.call(this.anyAddress(), 'read', { group, query, consistency });
    return this.toLeader(group, 'read', { group, query, consistency });
  }

  /** Sends a key-value command to one particular node (no leader following, no retry). */
  commandAt(address: string, group: GroupId, cmd: KvCommand, timeoutMs = this.timeoutMs): Promise<unknown> {
    const command = encodeKvCommand(cmd, { clientId: this.clientId, sequence: ++this.sequence });
    return this.call(address, 'execute', { group, command }, timeoutMs);
  }

  /** Reads from one particular node (for example `stale` reads of its own replica). */
  readFrom(
    address: string,
    group: GroupId,
    query: Query,
    consistency: ReadConsistency = 'stale',
  ): Promise<unknown> {
    return this.call(address, 'read', { group, query, consistency });
  }

  status(address = this.anyAddress()): Promise<unknown> {
    return this.call(address, 'status', {});
  }

  addNode(node: { id: number; rpc: string; api: string }, timeoutMs = 120_000): Promise<unknown> {
    return this.call(this.anyAddress(), 'addNode', node, timeoutMs);
  }

  /** Removes node `id` from every group and the catalog; the request goes to another member (a node cannot remove itself). */
  async removeNode(id: number, timeoutMs = 120_000): Promise<unknown> {
    if (!this.topologyCache) await this.refreshTopology().catch(() => {});
    const leaving = this.addressOf(id);
    return this.call(this.anyAddress(leaving), 'removeNode', { id }, timeoutMs);
  }

  /** Test-only: tells the node at `address` to drop all traffic with `peers` (needs fault injection on). */
  injectFaults(address: string, peers: readonly NodeId[]): Promise<unknown> {
    return this.call(address, 'faults', { blockPeers: [...peers] });
  }

  /** Test-only: makes the replica of `group` at `address` fail, or kills its host thread. */
  injectActorFault(address: string, group: GroupId, kind: 'crash-actor' | 'exit-thread'): Promise<unknown> {
    return this.call(address, 'faults', { group, kind });
  }

  /** Creates a key-value group in the cluster (every node spawns a replica). */
  async createGroup(id: GroupId): Promise<{ id: GroupId; created: boolean }> {
    const result = (await this.call(this.anyAddress(), 'createGroup', { id })) as {
      id: GroupId;
      created: boolean;
    };
    await this.refreshTopology().catch(() => {});
    return result;
  }

  deleteGroup(id: GroupId): Promise<{ id: GroupId; deleted: boolean }> {
    return this.call(this.anyAddress(), 'deleteGroup', { id }) as Promise<{ id: GroupId; deleted: boolean }>;
  }

  transferLeader(group: GroupId, to: NodeId): Promise<unknown> {
    return this.toLeader(group, 'transfer', { group, to });
  }

  async refreshTopology(): Promise<Topology> {
    let lastError: unknown;
    const addresses = [...new Set([...Object.values(this.topologyCache?.nodes ?? {}), ...this.seeds])];
    for (const address of addresses) {
      try {
        const topology = (await this.call(
          address,
          'topology',
          {},
          Math.min(this.timeoutMs, 2_000),
        )) as Topology;
        this.topologyCache = topology;
        this.router = new ShardRouter('user', topology.userShards);
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
  private anyAddress(except?: string): string {
    const known = Object.values(this.topologyCache?.nodes ?? {});
    const all = known.length > 0 ? known : this.seeds;
    const others = except === undefined ? all : all.filter((a) => a !== except);
    const pool = others.length > 0 ? others : all;
    return pool[Math.floor(Math.random() * pool.length)]!;
  }

  private addressOf(node: NodeId): string | undefined {
    return this.topologyCache?.nodes[String(node)];
  }

  /** Sends to the group's leader, following hints; retries within the timeout. */
  private async toLeader(group: GroupId, op: ApiOp, args: Record<string, unknown>): Promise<unknown> {
    const deadline = performance.now() + this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const leader = this.leaders.get(group);
      const address = (leader && this.addressOf(leader)) || this.anyAddress();
      try {
        // One attempt gets a slice of the time left, so an unresponsive node cannot use up the whole call.
        const remaining = Math.max(1, deadline - performance.now());
        return await this.call(
          address,
          op,
          args,
          Math.min(remaining, Math.max(ATTEMPT_MS_MIN, this.timeoutMs / 3)),
        );
      } catch (error) {
        if (error instanceof NotLeaderError && error.leaderHint) this.leaders.set(group, error.leaderHint);
        else this.leaders.delete(group);
        // Socket errors (ECONNREFUSED, reset) are not Flotilla errors: that node is gone, try another.
        const connectionError = !(error instanceof FlotillaError);
        if ((!isRetryable(error) && !connectionError) || performance.now() + 1 >= deadline) throw error;
        // A command without a session whose outcome is unknown must not be sent twice.
        const unknownOutcome = connectionError || error instanceof RequestTimeoutError;
        if (unknownOutcome && op === 'execute' && !hasSession(args.command as Uint8Array)) throw error;
        if (connectionError || attempt % 4 === 3) await this.refreshTopology().catch(() => {});
        await sleep(
          Math.min(backoffMs({ baseMs: 10, maxMs: 500 }, attempt), Math.max(1, deadline - performance.now())),
        );
      }
    }
  }

  private async call(
    address: string,
    op: ApiOp,
    args: Record<string, unknown>,
    timeoutMs = this.timeoutMs,
  ): Promise<unknown> {
    let connection = this.connections.get(address);
    if (!connection || connection.closed) {
      connection = new Connection(address);
      connection.onLeaderHint = (group, leader) => this.leaders.set(group, leader);
      this.connections.set(address, connection);
    }
    return connection.request(op, args, timeoutMs);
  }

  close(): void {
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
  }
}

/** Whether an encoded command carries a client session (see `RaftExecutor`): `[clientId ≠ '', …]`. */
function hasSession(command: Uint8Array): boolean {
  return command[0] !== undefined && (command[0] & 0xf0) === 0x90 && command[1] !== 0xa0;
}
