/**
 * Accounts as replicated entities: a balance per id, changed only by debits and credits that name their
 * transfer, so a step the saga repeats (after a crash, a retry, a new leader) applies once. Steps must carry
 * the fencing token of the saga that sends them: a saga whose leadership is over is refused.
 */
import { defineEntity, z } from '@flotilla/app';

/** Transfers an account remembers (to apply a repeated step once); older ones are fenced out instead. */
const REMEMBERED_TRANSFERS = 256;

const step = z.object({ transfer: z.string().min(1).max(64), amount: z.number().int().positive() });

export interface AccountState {
  readonly opened: boolean;
  readonly balance: number;
  /** The most recent transfers this account took part in (transfer id → what happened here). */
  readonly steps: readonly (readonly [string, 'debited' | 'credited'])[];
}

function remember(state: AccountState, transfer: string, what: 'debited' | 'credited') {
  return [...state.steps, [transfer, what] as const].slice(-REMEMBERED_TRANSFERS);
}

export const Account = defineEntity({
  name: 'account',
  initial: (): AccountState => ({ opened: false, balance: 0, steps: [] }),
  commands: {
    open: { input: z.object({ initial: z.number().int().nonnegative() }), output: z.number() },
    debit: { input: step, output: z.number() },
    credit: { input: step, output: z.number() },
  },
  queries: {
    balance: { input: z.object({}), output: z.object({ opened: z.boolean(), balance: z.number() }) },
  },
  handle: {
    open: (s, { initial }) =>
      s.opened ? { reply: s.balance } : { state: { ...s, opened: true, balance: initial }, reply: initial },
    debit(s, { transfer, amount }, ctx) {
      ctx.requireFence();
      if (s.steps.some(([t, w]) => t === transfer && w === 'debited')) return { reply: s.balance };
      if (!s.opened) ctx.reject('no-account', `account ${ctx.id} is not open`);
      if (s.balance < amount)
        ctx.reject('insufficient-funds', `${ctx.id} has ${s.balance}, needs ${amount}`, {
          balance: s.balance,
        });
      const balance = s.balance - amount;
      return { state: { ...s, balance, steps: remember(s, transfer, 'debited') }, reply: balance };
    },
    credit(s, { transfer, amount }, ctx) {
      ctx.requireFence();
      if (s.steps.some(([t, w]) => t === transfer && w === 'credited')) return { reply: s.balance };
      if (!s.opened) ctx.reject('no-account', `account ${ctx.id} is not open`);
      const balance = s.balance + amount;
      return { state: { ...s, balance, steps: remember(s, transfer, 'credited') }, reply: balance };
    },
  },
  query: {
    balance: (s) => ({ opened: s.opened, balance: s.balance }),
  },
});
