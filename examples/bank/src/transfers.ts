/**
 * The transfers ledger: a store machine sharded over `transfers:0..N-1`. `start` records a transfer as
 * pending (once per id); the saga moves it to debited, then completed (or failed when the debit is refused),
 * with its fencing token. Pending transfers are indexed so that a new leader's saga finds them at once.
 */
import { defineMachine, store, z } from '@flotilla/app';

export type TransferStatus = 'pending' | 'debited' | 'completed' | 'failed';

export interface TransferRecord {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  readonly status: TransferStatus;
  readonly reason?: string | undefined;
}

const RECORD = (id: string) => ['transfer', id];
const PENDING = (id: string) => ['pending', id];
const COUNTS = 'counts';

const record = z.object({
  id: z.string(),
  from: z.string(),
  to: z.string(),
  amount: z.number(),
  status: z.enum(['pending', 'debited', 'completed', 'failed']),
  reason: z.string().optional(),
});
const counts = z.object({
  pending: z.number(),
  debited: z.number(),
  completed: z.number(),
  failed: z.number(),
});
type Counts = z.output<typeof counts>;
const ZERO: Counts = { pending: 0, debited: 0, completed: 0, failed: 0 };

export const Transfers = defineMachine({
  name: 'transfers',
  commands: {
    start: {
      input: z
        .object({
          id: z.string().min(1).max(64),
          from: z.string().min(1),
          to: z.string().min(1),
          amount: z.number().int().positive(),
        })
        .refine((t) => t.from !== t.to, { message: 'from and to must differ', path: ['to'] }),
      output: record,
    },
    advance: {
      input: z.object({
        id: z.string(),
        status: z.enum(['debited', 'completed', 'failed']),
        reason: z.string().max(200).optional(),
      }),
      output: record,
    },
  },
  queries: {
    get: { input: z.object({ id: z.string() }), output: record.nullable() },
    pending: { input: z.object({ limit: z.number().int().min(1).max(1_000) }), output: z.array(record) },
    counts: { input: z.object({}), output: counts },
  },
  state: store(),
  apply: {
    start(kv, t) {
      const known = kv.get<TransferRecord>(RECORD(t.id));
      if (known) return known;
      const created: TransferRecord = { ...t, status: 'pending' };
      kv.put(RECORD(t.id), created);
      kv.put(PENDING(t.id), 1);
      const c = kv.get<Counts>(COUNTS) ?? ZERO;
      kv.put(COUNTS, { ...c, pending: c.pending + 1 });
      return created;
    },
    advance(kv, { id, status, reason }, ctx) {
      ctx.requireFence();
      const known = kv.get<TransferRecord>(RECORD(id));
      if (!known) return ctx.reject('unknown-transfer', `no transfer ${id}`);
      const order: TransferStatus[] = ['pending', 'debited', 'completed'];
      const done = known.status === 'completed' || known.status === 'failed';
      if (done || (status === 'debited' && known.status !== 'pending')) return known;
      if (status === 'completed' && order.indexOf(known.status) < 1)
        ctx.reject('out-of-order', `${id} is ${known.status}`);
      const next: TransferRecord = { ...known, status, ...(reason ? { reason } : {}) };
      kv.put(RECORD(id), next);
      if (status !== 'debited') kv.delete(PENDING(id));
      const c = kv.get<Counts>(COUNTS) ?? ZERO;
      kv.put(COUNTS, { ...c, [known.status]: c[known.status] - 1, [status]: c[status] + 1 });
      return next;
    },
  },
  query: {
    get: (kv, { id }) => kv.get<TransferRecord>(RECORD(id)) ?? null,
    pending(kv, { limit }) {
      const out: TransferRecord[] = [];
      for (const { key } of kv.range({ start: ['pending'], end: ['pending', '\uffff'], limit })) {
        const id = (key as readonly string[])[1]!;
        const t = kv.get<TransferRecord>(RECORD(id));
        if (t) out.push(t);
      }
      return out;
    },
    counts: (kv) => kv.get<Counts>(COUNTS) ?? ZERO,
  },
});
