/**
 * The bank application every node loads: accounts (entities, sharded over `account:0..7`), the transfers
 * ledger (a store machine over `transfers:0..3`) and the transfer saga on each ledger group's leader.
 */
import { actorKind } from '@flotilla/actors';
import { defineApp } from '@flotilla/app';
import { Account } from './accounts.ts';
import { TransferSaga } from './saga.ts';
import { Transfers } from './transfers.ts';

export { TransferSaga };
export const TransferSagaKind = actorKind<typeof TransferSaga>(import.meta.url, 'TransferSaga');

export const app = defineApp({
  entities: [Account],
  machines: [Transfers],
  shards: [
    { prefix: 'account', count: 8, kind: Account },
    { prefix: 'transfers', count: 4, kind: Transfers },
  ],
  leaderActors: [{ name: 'saga', kind: TransferSagaKind, groups: { kind: Transfers } }],
});
