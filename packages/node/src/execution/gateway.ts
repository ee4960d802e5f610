/**
 * The node's gateway: a main-thread actor that runs typed calls for actors on any thread of the node (a
 * leader-only dispatcher on a host thread, an application actor) through the node's executor. `gatewayCalls`
 * gives such an actor the same `Calls` a client has — entity refs included — carried by asks to the gateway.
 */
import type { Actor, ActorContext, ActorRef, Ask } from '@flotilla/actors';
import {
  type ActorRefData,
  type CallOptions,
  type CallPort,
  Calls,
  type CommandRequest,
  type Fence,
  fromWireError,
  type QueryRequest,
  toWireError,
  type WireError,
} from '@flotilla/app';
import { assertNever } from '@flotilla/core';

type Reply =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: WireError };

export type GatewayMessage =
  | Ask<{ readonly type: 'command'; readonly request: CommandRequest; readonly timeoutMs?: number }, Reply>
  | Ask<{ readonly type: 'query'; readonly request: QueryRequest; readonly timeoutMs?: number }, Reply>;

export interface GatewayProps {
  readonly port: CallPort;
}

/** Asks the gateway waits for besides the call's own timeout (the hop and the reply). */
const ASK_MARGIN_MS = 1_000;
/** A call's timeout when its caller gives none. */
const DEFAULT_CALL_TIMEOUT_MS = 5_000;

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
    const pending = ctx.replyLater(message as never) as { resolve(value: Reply): void };
    work.then(
      (value) => pending.resolve({ ok: true, value }),
      (error: unknown) => pending.resolve({ ok: false, error: toWireError(error) }),
    );
  }
}

/** Anything that can ask an actor: an actor's context, or the actor system itself. */
export interface Asker {
  ask(
    ref: ActorRef<GatewayMessage>,
    message: GatewayMessage,
    options?: { timeoutMs?: number },
  ): Promise<unknown>;
}

/**
 * Typed calls for an actor, carried by its node's gateway. With `fence` (a leader-only actor's group and
 * term) every command carries the fencing token, which machines check with `ctx.requireFence()`.
 */
export function gatewayCalls(
  asker: Asker,
  gateway: ActorRefData,
  options: { fence?: Fence; clientId?: string } = {},
): Calls {
  const ref = gateway as ActorRef<GatewayMessage>;
  const ask = async (message: GatewayMessage, call: CallOptions): Promise<unknown> => {
    const timeoutMs = call.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const reply = (await asker.ask(ref, { ...message, timeoutMs } as GatewayMessage, {
      timeoutMs: timeoutMs + ASK_MARGIN_MS,
    })) as Reply;
    if (!reply.ok) throw fromWireError(reply.error);
    return reply.value;
  };
  const port: CallPort = {
    command: (request, call) => ask({ type: 'command', request } as GatewayMessage, call),
    query: (request, call) => ask({ type: 'query', request } as GatewayMessage, call),
  };
  return new Calls(port, options);
}
