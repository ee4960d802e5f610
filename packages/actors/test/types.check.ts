import { TestKit } from '../src/index.ts';
import { Counter } from './fixtures/counter.ts';

const kit = new TestKit();
const ref = kit.spawn(Counter, { props: { start: 1 } });
kit.tell(ref, { type: 'add', n: 1 });
const n: Promise<number> = kit.ask(ref, { type: 'get' });
const s: Promise<string> = kit.ask(ref, { type: 'echo', text: 'x' });
// @ts-expect-error wrong message
kit.tell(ref, { type: 'nope' });
// @ts-expect-error not askable
void kit.ask(ref, { type: 'add', n: 1 });
// @ts-expect-error reply type
const bad: Promise<string> = kit.ask(ref, { type: 'get' });
void n;
void s;
void bad;
