/**
 * The node's gateway: a main-thread actor that runs typed calls for actors on any thread of the node (a
 * leader-only dispatcher on a host thread, an application actor) through the node's executor. Actors make
 * them with @flotilla/app's `gatewayCalls`, which carries them as asks to this actor.
 */
import type { Actor, ActorContext, Ask } from '@flotilla/actors';
import { type CallPort, type GatewayReply, type GatewayRequest, toWireError } from '@flotilla/app';
import { assertNever } from '@flotilla/core';

/** A gateway request (see @flotilla/app `gatewayCalls`), answered with a `GatewayReply`. */
export type GatewayMessage = Ask<GatewayRequest, GatewayReply>;

export interface GatewayProps {
  readonly port: CallPort;
}

export class GatewayActor implements Actor<GatewayMessage> {
  constructor(private readonly props: GatewayProps) {}

  receive(message: GatewayMessage, ctx: ActorContext<GatewayMessage>): void {
    const options = message.timeoutMs === undefined ? {} : { timeoutMs: message.timeoutMs };
    let work: Promise<unknown>;
    switch (message.type) {
      case 'command':
        work = this.props.port.command(message.request, options);
        break;
      case 'query':
        work = this.props.port.query(message.request, options);
        break;
      default:
        assertNever(message);
    }
    const pending = ctx.replyLater(message as never) as { resolve(value: GatewayReply): void };
    work.then(
      (value) => pending.resolve({ ok: true, value }),
      (error: unknown) => pending.resolve({ ok: false, error: toWireError(error) }),
    );
  }
}
