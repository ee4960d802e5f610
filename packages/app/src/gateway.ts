/**
 * Typed calls for actors, carried by their node's gateway actor: `gatewayCalls` gives an actor on any thread
 * (a leader-only dispatcher, a worker pool) the same `Calls` a client has, entity refs included. Only the
 * message shapes live here (plain data, so that packages of actors need no server code); the gateway actor
 * that serves them is part of @flotilla/node.
 */

import { type CallOptions, type CallPort, Calls, type CommandRequest, type QueryRequest } from './caller.ts';
import type { ActorRefData } from './define/app.ts';
import type { Fence } from './define/machine.ts';
import { fromWireError, type WireError } from './errors.ts';

/** What an actor asks the gateway. */
export type GatewayRequest =
  | { readonly type: 'command'; readonly request: CommandRequest; readonly timeoutMs?: number }
  | { readonly type: 'query'; readonly request: QueryRequest; readonly timeoutMs?: number };

/** The gateway's answer: the call's result, or its error as it crosses the wire. */
export type GatewayReply =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: WireError };

/** Anything that can ask an actor: an actor's context, or the actor system itself. */
export interface Asker {
  ask(ref: never, message: never, options?: { timeoutMs?: number }): Promise<unknown>;
}

/** Asks the gateway waits for besides the call's own timeout (the hop and the reply). */
const ASK_MARGIN_MS = 1_000;
/** A call's timeout when its caller gives none. */
export const GATEWAY_CALL_TIMEOUT_MS = 5_000;

/**
 * Typed calls for an actor, carried by its node's gateway (`props.gateway`). With `fence` (a leader-only
 * actor's group and term) every command carries the fencing token, which machines check with
 * `ctx.requireFence()`.
 */
export function gatewayCalls(
  asker: Asker,
  gateway: ActorRefData,
  options: { fence?: Fence; clientId?: string } = {},
): Calls {
  const ask = asker.ask.bind(asker) as (
    ref: ActorRefData,
    message: GatewayRequest,
    options: { timeoutMs: number },
  ) => Promise<unknown>;
  const call = async (message: GatewayRequest, call: CallOptions): Promise<unknown> => {
    const timeoutMs = call.timeoutMs ?? GATEWAY_CALL_TIMEOUT_MS;
    const reply = (await ask(
      gateway,
      { ...message, timeoutMs },
      { timeoutMs: timeoutMs + ASK_MARGIN_MS },
    )) as GatewayReply;
    if (!reply.ok) throw fromWireError(reply.error);
    return reply.value;
  };
  const port: CallPort = {
    command: (request, options) => call({ type: 'command', request }, options),
    query: (request, options) => call({ type: 'query', request }, options),
  };
  return new Calls(port, options);
}
