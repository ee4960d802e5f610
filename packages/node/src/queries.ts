/**
 * Read-only queries against a group's state machine, the same in cluster and standalone mode:
 * `get` on key-value groups, `catalog` on `meta:system`. Unknown queries are a `ProtocolError`.
 */
import type { MemoryKvStateMachine } from '@flotilla/core';
import type { CatalogStateMachine } from './catalog.ts';
import { ProtocolError } from './errors.ts';

export type Query = { readonly op: 'get'; readonly key: string } | { readonly op: 'catalog' };

export interface GetResult {
  readonly value: string | null;
  /** Log index of the write that produced the value (0 when never written). */
  readonly index: number;
}

/** A key-value view both kinds of kv state machine provide. */
export interface KvReader {
  get(key: string): string | null;
  writtenAt(key: string): number;
}

export function validateQuery(value: unknown): Query {
  if (typeof value === 'object' && value !== null) {
    const q = value as Record<string, unknown>;
    if (q.op === 'get' && typeof q.key === 'string') return { op: 'get', key: q.key };
    if (q.op === 'catalog') return { op: 'catalog' };
  }
  throw new ProtocolError(`unknown query ${JSON.stringify(value)}`);
}

export function runQuery(sm: KvReader | CatalogStateMachine | MemoryKvStateMachine, query: Query): unknown {
  if (query.op === 'catalog') {
    if (!('nodes' in sm)) throw new ProtocolError('catalog query on a key-value group');
    return { nodes: [...sm.nodes.values()], groups: [...sm.groups.values()] };
  }
  if (!('writtenAt' in sm)) throw new ProtocolError('get on the catalog group');
  return { value: sm.get(query.key), index: sm.writtenAt(query.key) } satisfies GetResult;
}
