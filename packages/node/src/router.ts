/**
 * The main thread's router: the one place where group actors (on any thread) meet the transport. Outbound
 * Raft messages arrive from the group actors already encoded and batched per turn by the actor runtime, and
 * leave through the transport (one frame per peer per turn); leader changes update the node's directory.
 */

import type { Actor, ActorContext } from '@flotilla/actors';
import type { Transport } from '@flotilla/core';
import type { RouterMessage } from './group-actor.ts';
import { toWireError } from './wire-errors.ts';

export interface RouterProps {
  readonly transport: Transport;
  readonly leaderChanged: (group: string, leaderId: number, term: number) => void;
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
    }
  }
}

/** Splits snapshot data into chunks for the transport's flow-controlled stream. */
async function* chunksOf(data: Uint8Array, chunkBytes = 256 * 1024): AsyncIterable<Uint8Array> {
  for (let at = 0; at < data.length; at += chunkBytes)
    yield data.subarray(at, Math.min(data.length, at + chunkBytes));
  if (data.length === 0) yield data;
}
