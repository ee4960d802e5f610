/**
 * Shared test helpers: child peer processes driven over IPC, a recording `TransportHandler`, Raft-shaped
 * payloads, deterministic snapshot chunks and bounded waits. Everything started here is killed by pid.
 */
import { type ChildProcess, fork } from 'node:child_process';
import {
  encodeMessage,
  type GroupId,
  type NodeChannel,
  type NodeId,
  type SnapshotMeta,
  type TransportHandler,
} from '@flotilla/core';
import type { PeerCommand, PeerConfig } from './fixtures/peer.ts';

export const SECRET = 'flotilla-test-cluster-secret-0123';
const FIXTURE = new URL('./fixtures/peer.ts', import.meta.url).pathname;

/** A command to the peer process; `request` adds the correlation id. */
type CommandWithoutId = PeerCommand extends infer C ? (C extends unknown ? Omit<C, 'id'> : never) : never;

export type PeerEvent = { readonly type: string; readonly id?: number } & Record<string, unknown>;

/** Polls `check` every 10 ms until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitUntil<T>(
  check: () => T | undefined | false,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A Flotilla node in a child process (test/fixtures/peer.ts), spoken to over IPC. */
export class PeerProcess {
  readonly events: PeerEvent[] = [];
  private nextId = 1;
  private exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly config: PeerConfig,
  ) {
    child.on('message', (event: PeerEvent) => this.events.push(event));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(config: PeerConfig, timeoutMs = 15_000): Promise<PeerProcess> {
    const child = fork(FIXTURE, [JSON.stringify(config)], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const peer = new PeerProcess(child, config);
    try {
      await peer.waitFor((e) => e.type === 'ready', timeoutMs, 'peer process ready');
    } catch (error) {
      await peer.kill();
      throw error;
    }
    return peer;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get port(): number {
    return this.events.find((e) => e.type === 'ready')?.port as number;
  }

  get url(): string {
    return this.events.find((e) => e.type === 'ready')?.url as string;
  }

  /** Waits for an event; fails at once if the process exits first. */
  waitFor(match: (e: PeerEvent) => boolean, timeoutMs: number, what: string): Promise<PeerEvent> {
    return waitUntil(
      () => {
        const event = this.events.find(match);
        if (event === undefined && !this.running)
          throw new Error(`peer process exited while waiting for ${what}`);
        return event;
      },
      timeoutMs,
      what,
    );
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async request(command: CommandWithoutId, timeoutMs = 10_000): Promise<PeerEvent> {
    const id = this.nextId++;
    this.child.send({ ...command, id });
    return this.waitFor((e) => e.id === id, timeoutMs, `reply to ${command.cmd}`);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) process.kill(this.pid, signal);
  }

  /** Kills the process by pid (SIGKILL) and waits until it has exited. */
  async kill(): Promise<void> {
    if (this.running) {
      process.kill(this.pid, 'SIGCONT');
      process.kill(this.pid, 'SIGKILL');
    }
    await this.exited;
  }
}

export interface Delivery {
  readonly from: NodeId;
  readonly group: GroupId;
  readonly payload: Uint8Array;
}

/** A `TransportHandler` that records everything; snapshots are consumed by `onSnapshot` (default: drain). */
export class Recorder implements TransportHandler {
  readonly delivered: Delivery[] = [];
  /** Node-channel payloads, in arrival order. */
  readonly nodeDelivered: { from: NodeId; channel: NodeChannel; payload: Uint8Array }[] = [];
  readonly unreachable: NodeId[] = [];
  readonly backpressure: { peer: NodeId; held: boolean }[] = [];
  onSnapshot: (
    from: NodeId,
    group: GroupId,
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ) => Promise<void> = async (_from, _group, _meta, chunks) => {
    for await (const _ of chunks);
  };

  deliver(from: NodeId, group: GroupId, payload: Uint8Array): void {
    this.delivered.push({ from, group, payload: Uint8Array.from(payload) });
  }
  deliverNode(from: NodeId, channel: NodeChannel, payload: Uint8Array): void {
    this.nodeDelivered.push({ from, channel, payload: Uint8Array.from(payload) });
  }
  peerUnreachable(peer: NodeId): void {
    this.unreachable.push(peer);
  }
  peerBackpressure(peer: NodeId, held: boolean): void {
    this.backpressure.push({ peer, held });
  }
  receiveSnapshot(
    from: NodeId,
    group: GroupId,
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    return this.onSnapshot(from, group, meta, chunks);
  }
}

/** A heartbeat whose `commit` carries a sequence number, so order and integrity can be checked after a trip. */
export function sequenced(from: NodeId, to: NodeId, seq: number): Uint8Array {
  return encodeMessage({ type: 'heartbeat', from, to, term: 1, commit: seq, readRound: 0, quiesce: false });
}

/** An append with `entries` entries of `entryBytes` bytes each, as a Raft leader would send. */
export function appendPayload(entries: number, entryBytes: number): Uint8Array {
  const data = new Uint8Array(entryBytes).fill(7);
  return encodeMessage({
    type: 'append',
    from: 1,
    to: 2,
    term: 3,
    index: 100,
    logTerm: 3,
    commit: 90,
    entries: Array.from({ length: entries }, (_, i) => ({ term: 3, index: 101 + i, kind: 0, data })),
  });
}

/** Deterministic snapshot content: chunk i is `chunkBytes` bytes of a pattern depending on i. */
export async function* snapshotChunks(chunkCount: number, chunkBytes: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < chunkCount; i++) yield new Uint8Array(chunkBytes).map((_, j) => (i * 31 + j) & 0xff);
}

export const SNAPSHOT_META: SnapshotMeta = {
  index: 7,
  term: 2,
  confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
};
