/**
 * An account: a balance that only its own actor touches, so no locks. A transfer takes money out here and
 * sends a deposit to the other account, wherever it lives. One account has a flaky card reader (`glitchEvery`).
 */
import type { Actor, ActorContext, ActorRef, Ask } from '@flotilla/actors';
import type { BranchMsg } from './branch.ts';

export type TransferResult = 'done' | 'insufficient-funds';

export type AccountMsg =
  | { type: 'deposit'; amount: number }
  | Ask<{ type: 'transfer'; to: ActorRef<AccountMsg>; amount: number }, TransferResult>
  | Ask<{ type: 'balance' }, number>;

export interface AccountProps {
  name: string;
  opening: number;
  /** The supervising branch, which keeps the ledger a restarted account recovers from. */
  branch: ActorRef<BranchMsg>;
  /** Every n-th transfer throws (0 = never), to show the supervisor restarting the account. */
  glitchEvery: number;
}

export class Account implements Actor<AccountMsg> {
  private readonly props: AccountProps;
  private balance = 0;
  private transfers = 0;

  constructor(props: AccountProps) {
    this.props = props;
  }

  /** Runs at first start and after every restart: the balance comes back from the branch's ledger. */
  async preStart(ctx: ActorContext<AccountMsg>): Promise<void> {
    const { branch, name, opening } = this.props;
    this.balance = await ctx.ask(branch, { type: 'last-balance', name, opening });
  }

  receive(message: AccountMsg, ctx: ActorContext<AccountMsg>): void {
    switch (message.type) {
      case 'deposit':
        this.setBalance(ctx, this.balance + message.amount);
        return;
      case 'transfer': {
        this.transfers++;
        const { glitchEvery } = this.props;
        if (glitchEvery > 0 && this.transfers % glitchEvery === 0) throw new Error('card reader glitch');
        if (message.amount > this.balance) {
          ctx.reply(message, 'insufficient-funds');
          return;
        }
        this.setBalance(ctx, this.balance - message.amount);
        ctx.tell(message.to, { type: 'deposit', amount: message.amount });
        ctx.reply(message, 'done');
        return;
      }
      case 'balance':
        ctx.reply(message, this.balance);
        return;
    }
  }

  private setBalance(ctx: ActorContext<AccountMsg>, balance: number): void {
    this.balance = balance;
    ctx.tell(this.props.branch, { type: 'balance-changed', name: this.props.name, balance });
  }
}
