/**
 * The benchmark's actor: counts what it receives and answers asks, so that the measured cost is the
 * runtime's (mailbox, dispatch, cross-thread batches), not the actor's work.
 */
import { type Actor, type ActorContext, type Ask, actorKind } from '../src/index.ts';

export type SinkMsg =
  | { type: 'add'; n: number }
  | Ask<{ type: 'count' }, number>
  | Ask<{ type: 'ping' }, number>;

export class Sink implements Actor<SinkMsg> {
  private total = 0;
  receive(message: SinkMsg, ctx: ActorContext<SinkMsg>): void {
    switch (message.type) {
      case 'add':
        this.total += message.n;
        return;
      case 'count':
        ctx.reply(message, this.total);
        return;
      case 'ping':
        ctx.reply(message, 1);
        return;
    }
  }
}

export const SinkKind = actorKind<typeof Sink>(import.meta.url, 'Sink');
