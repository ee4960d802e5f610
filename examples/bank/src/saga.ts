/**
 * The transfer saga: a leader-only actor on each `transfers` group's leader. It drives every pending transfer
 * of its group: debit `from`, mark debited, credit `to`, mark completed (a refused debit marks it failed; a
 * refused credit refunds `from` first). Every step is idempotent and carries the saga's fencing token, so a
 * crash anywhere only repeats steps, and a saga whose leadership is over cannot move money.
 */
import type { Actor, ActorContext } from '@flotilla/actors';
import { ApplicationError, type Calls, type LeaderProps, StaleFenceError } from '@flotilla/app';
import { gatewayCalls } from '@flotilla/node';
import { Account } from './accounts.ts';
import { type TransferRecord, Transfers } from './transfers.ts';

/** How often the saga looks for pending transfers when it found none. */
const IDLE_POLL_MS = 20;
/** Pending transfers taken per round, driven concurrently. */
const ROUND_TRANSFERS_MAX = 64;
/** Bound on one step's call (a leader change in between is retried by the next round). */
const STEP_TIMEOUT_MS = 3_000;

type SagaMessage = { readonly type: 'round' };

export class TransferSaga implements Actor<SagaMessage> {
  private calls: Calls | undefined;
  private running = false;
  private stopped = false;

  constructor(private readonly props: LeaderProps) {}

  preStart(ctx: ActorContext<SagaMessage>): void {
    this.calls = gatewayCalls(ctx as never, this.props.gateway, {
      fence: { group: this.props.group, term: this.props.term },
    });
    ctx.timers.startPeriodic('round', { type: 'round' }, IDLE_POLL_MS);
  }

  postStop(): void {
    this.stopped = true;
  }

  receive(_message: SagaMessage): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.round().finally(() => {
      this.running = false;
    });
  }

  private async round(): Promise<void> {
    const calls = this.calls!;
    const group = this.props.group;
    const pending = await calls
      .query(
        Transfers,
        group,
        'pending',
        { limit: ROUND_TRANSFERS_MAX },
        { consistency: 'lease', timeoutMs: STEP_TIMEOUT_MS },
      )
      .catch(() => [] as TransferRecord[]);
    await Promise.all(pending.map((t) => this.drive(t).catch((error: unknown) => this.giveUp(error))));
  }

  /** A stale fence means this saga lost its leadership: it stops (a new one runs on the new leader). */
  private giveUp(error: unknown): void {
    if (error instanceof StaleFenceError) this.stopped = true;
  }

  private async drive(t: TransferRecord): Promise<void> {
    const calls = this.calls!;
    const options = { timeoutMs: STEP_TIMEOUT_MS };
    const advance = (status: 'debited' | 'completed' | 'failed', reason?: string) =>
      calls.execute(
        Transfers,
        this.props.group,
        'advance',
        { id: t.id, status, ...(reason ? { reason } : {}) },
        options,
      );
    if (t.status === 'pending') {
      try {
        await calls.entity(Account, t.from).debit({ transfer: t.id, amount: t.amount }, options);
      } catch (error) {
        if (error instanceof ApplicationError) {
          await advance('failed', error.reason);
          return;
        }
        throw error;
      }
      await advance('debited');
    }
    try {
      await calls.entity(Account, t.to).credit({ transfer: t.id, amount: t.amount }, options);
    } catch (error) {
      if (!(error instanceof ApplicationError)) throw error;
      await calls.entity(Account, t.from).credit({ transfer: `${t.id}:refund`, amount: t.amount }, options);
      await advance('failed', error.reason);
      return;
    }
    await advance('completed');
  }
}
