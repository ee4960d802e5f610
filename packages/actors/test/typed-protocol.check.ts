/**
 * Compile-time tests of typed protocols (checked by `pnpm typecheck`, never run): each `@ts-expect-error`
 * fails the type check if the line it marks ever compiles, so these guard the typing of tell, ask and reply.
 */
import { type Actor, type ActorContext, type Ask, type Terminated, TestKit } from '../src/index.ts';
import { Counter } from './fixtures/counter.ts';

const kit = new TestKit();
const ref = kit.spawn(Counter, { props: { start: 1 } });
kit.tell(ref, { type: 'add', n: 1 });
export const n: Promise<number> = kit.ask(ref, { type: 'get' });
export const s: Promise<string> = kit.ask(ref, { type: 'echo', text: 'x' });
// @ts-expect-error not a message of the Counter protocol
kit.tell(ref, { type: 'nope' });
// @ts-expect-error a field of the wrong type
kit.tell(ref, { type: 'add', n: 'one' });
// @ts-expect-error `add` is not an Ask: it has no reply to wait for
void kit.ask(ref, { type: 'add', n: 1 });
// @ts-expect-error the reply of `get` is a number
export const wrong: Promise<string> = kit.ask(ref, { type: 'get' });

type Msg = Ask<{ type: 'size' }, number> | { type: 'watch-it' };
export class Typed implements Actor<Msg> {
  receive(message: Msg, ctx: ActorContext<Msg>): void {
    if (message.type === 'size') {
      ctx.reply(message, 3);
      // @ts-expect-error the reply to `size` must be a number
      ctx.reply(message, 'three');
      return;
    }
    // @ts-expect-error watching needs `Terminated` in the protocol (it is how the news arrives)
    ctx.watch(ctx.self);
  }
}

type WatchingMsg = Terminated | { type: 'watch-it' };
export class Watching implements Actor<WatchingMsg> {
  receive(_message: WatchingMsg, ctx: ActorContext<WatchingMsg>): void {
    ctx.watch(ctx.self);
  }
}
// @ts-expect-error props must match the constructor's parameter
kit.spawn(Counter, { props: { begin: 1 } });
