/**
 * The main thread's router for replicas on host threads: their outbound Raft messages arrive already
 * encoded and batched per turn by the actor runtime and leave through the transport (one frame per peer
 * per turn); leader changes, divergence reports and applied changes (watches) go to the node. Main-thread
 * replicas do not use it.
 */
import type { Actor, ActorContext } from '@flotilla/actors';
import { toWireError } from '@flotilla/app';
import { assertNever, type Transport } from '@flotilla/core';
import type { DivergenceReport } from '../machines/machine-instance.ts';
import type { ChangeBatch } from '../watch/feed.ts';
import type { RouterMessage } from './replica-actor.ts';

/** Snapshot data leaves in chunks of this size (the transport's flow control counts them). */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;

export interface RouterProps {
  readonly transport: Transport;
  readonly leaderChanged: (group: string, leaderId: number, term: number) => void;
  readonly diverged: (report: DivergenceReport) => void;
  readonly changes: (group: string, batch: ChangeBatch) => void;
  readonly position: (group: string, index: number) => void;
  readonly storageFailed: (group: string, error: string) => void;
}

export class RouterActor implements Actor<RouterMessage> {
  constructor(private readonly props: RouterProps) {}

  receive(message: RouterMessage, ctx: ActorContext<RouterMessage>): void {
    switch (message.type) {
      case 'send':
        this.props.transport.send(message.to, message.group, message.payload);
        return;
      case 'leader':
        this.props.leaderChanged(message.group, message.leaderId, message.term);
        return;
      case 'diverged':
        this.props.diverged(message.report);
        return;
      case 'changes':
        this.props.changes(message.group, message.batch);
        return;
      case 'position':
        this.props.position(message.group, message.index);
        return;
      case 'storageFailed':
        this.props.storageFailed(message.group, message.error);
        return;
      case 'sendSnapshot': {
        const pending = ctx.replyLater(message);
        this.props.transport
          .sendSnapshot(message.to, message.group, message.meta, chunksOf(message.data))
          .then(
            () => pending.resolve({ ok: true, value: null }),
            (error: unknown) => pending.resolve({ ok: false, error: toWireError(error) }),
          );
        return;
      }
      default:
        assertNever(message);
    }
  }
}

/** Splits snapshot data into chunks for the transport's flow-controlled stream. */
export async function* chunksOf(
  data: Uint8Array,
  chunkBytes = SNAPSHOT_CHUNK_BYTES,
): AsyncIterable<Uint8Array> {
  for (let at = 0; at < data.length; at += chunkBytes)
    yield data.subarray(at, Math.min(data.length, at + chunkBytes));
  if (data.length === 0) yield data;
}
