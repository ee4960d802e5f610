import { type Actor, type ActorContext, ActorSystem, type Ask } from '@flotilla/actors';

type Msg = Ask<{ type: 'ping'; n: number }, number>;
class Echo implements Actor<Msg> {
  receive(m: Msg, ctx: ActorContext<Msg>) {
    const p = ctx.replyLater(m);
    Promise.resolve().then(() => p.resolve(m.n));
  }
}
const system = await ActorSystem.start({ hosts: 0 });
const ref = await system.spawn(Echo, { name: 'echo', host: 'main' });
for (const inflight of [1, 256]) {
  const N = 200_000;
  let done = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (done < N) {
        done++;
        await system.ask(ref, { type: 'ping', n: 1 }, { timeoutMs: 5000 });
      }
    }),
  );
  console.log('inflight', inflight, 'µs per ask', (((performance.now() - t) * 1000) / N).toFixed(2));
}
await system.shutdown();
