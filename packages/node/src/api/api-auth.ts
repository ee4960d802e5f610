/**
 * Who may use the client API: clients authenticate at the WebSocket upgrade with a bearer token from the
 * configuration (compared in constant time, as digests), and each request is authorised by the client's role —
 * `read` (queries, watches, status, topology) < `write` (commands) < `admin` (membership, transfers, groups,
 * fault injection). With no client configured the API is open, and the node keeps it on loopback.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiOp } from '@flotilla/app';
import { assertNever } from '@flotilla/core';
import type { ApiClientConfig, ApiRole } from '../operations/config.ts';

/** The role each operation needs. */
export function roleFor(op: ApiOp): ApiRole {
  switch (op) {
    case 'query':
    case 'watch':
    case 'unwatch':
    case 'status':
    case 'topology':
      return 'read';
    case 'execute':
      return 'write';
    case 'addNode':
    case 'removeNode':
    case 'transfer':
    case 'createGroup':
    case 'deleteGroup':
    case 'createShards':
    case 'faults':
      return 'admin';
    default:
      return assertNever(op);
  }
}

const RANK: Record<ApiRole, number> = { read: 0, write: 1, admin: 2 };

export function allows(role: ApiRole, op: ApiOp): boolean {
  return RANK[role] >= RANK[roleFor(op)];
}

/** An authenticated connection's client. */
export interface Principal {
  readonly name: string;
  readonly role: ApiRole;
}

/** Every connection of an open API (no client configured). */
const ANYONE: Principal = { name: 'anyone', role: 'admin' };

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class ApiAuth {
  private readonly clients: readonly { readonly principal: Principal; readonly digest: Buffer }[];

  constructor(clients: readonly ApiClientConfig[]) {
    this.clients = clients.map((c) => ({
      principal: { name: c.name, role: c.role },
      digest: digest(c.token),
    }));
  }

  /** No client is configured: anyone who reaches the port may do everything. */
  get open(): boolean {
    return this.clients.length === 0;
  }

  /**
   * The client an `Authorization: Bearer <token>` header proves, or undefined. Every configured digest is
   * compared (in constant time), so the time taken says nothing about which one matched.
   */
  authenticate(authorization: string | undefined): Principal | undefined {
    if (this.open) return ANYONE;
    const match = /^Bearer (.+)$/.exec(authorization ?? '');
    if (match === null) return undefined;
    const presented = digest(match[1]!);
    let found: Principal | undefined;
    for (const c of this.clients) if (timingSafeEqual(presented, c.digest)) found = c.principal;
    return found;
  }
}
