/**
 * A branch: one per host thread, it opens the accounts (its children, on its thread), keeps their ledger, and
 * supervises them: a failing account is restarted (one-for-one, up to 5 times in 10 s) and reloads its balance.
 */
import {
  type Actor,
  type ActorContext,
  type ActorRef,
  type Ask,
  actorKind,
  oneForOne,
} from '@flotilla/actors';
import { Account, type AccountMsg } from './account.ts';

export type BranchMsg =
  | Ask<{ type: 'accounts' }, ActorRef<AccountMsg>[]>
  | Ask<{ type: 'last-balance'; name: string; opening: number }, number>
  | { type: 'balance-changed'; name: string; balance: number };

export interface BranchProps {
  index: number;
  accounts: number;
  opening: number;
  glitchEvery: number;
}

export class Branch implements Actor<BranchMsg> {
  readonly supervisorStrategy = oneForOne({ maxRestarts: 5, withinMs: 10_000 });
  private readonly props: BranchProps;
  private readonly ledger = new Map<string, number>();
  private readonly accounts: ActorRef<AccountMsg>[] = [];

  constructor(props: BranchProps) {
    this.props = props;
  }

  preStart(ctx: ActorContext<BranchMsg>): void {
    const { index, accounts, opening, glitchEvery } = this.props;
    for (let i = 0; i < accounts; i++) {
      const name = `acct-${index}-${i}`;
      // Only the first account of each branch has the flaky card reader.
      const props = { name, opening, branch: ctx.self, glitchEvery: i === 0 ? glitchEvery : 0 };
      this.accounts.push(ctx.spawn(Account, { name, props }));
    }
  }

  receive(message: BranchMsg, ctx: ActorContext<BranchMsg>): void {
    switch (message.type) {
      case 'accounts':
        ctx.reply(message, this.accounts);
        return;
      case 'last-balance':
        ctx.reply(message, this.ledger.get(message.name) ?? message.opening);
        return;
      case 'balance-changed':
        this.ledger.set(message.name, message.balance);
        return;
    }
  }
}

/** Where a host thread finds the class: this module, export `Branch`. */
export const BranchKind = actorKind<typeof Branch>(import.meta.url, 'Branch');
