/**
 * Peer authentication at the WebSocket upgrade: an HMAC-SHA256 over (from, to, timestamp, nonce) keyed by
 * the cluster secret, compared in constant time, accepted once (nonce cache) and only inside a clock window.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { NodeId } from '@flotilla/core';

/** URL path of peer links; other paths are refused at upgrade. */
export const PEER_PATH = '/flotilla/peer/v1';
/** How a node closes the links of a peer the cluster removed: the removed node learns it from this close. */
export const PEER_REMOVED_CODE = 1008;
export const PEER_REMOVED_REASON = 'peer removed';
export const NODE_HEADER = 'x-flotilla-node';
export const AUTH_HEADER = 'x-flotilla-auth';

const MAC_DOMAIN = 'flotilla-peer-v1';
const NODE_PATTERN = /^[1-9][0-9]{0,15}$/;
const AUTH_PATTERN = /^v1\.([0-9]{1,16})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$/;

/** Why an upgrade was refused; each reason is a counter in `stats().rejections`. */
export type AuthRejection =
  | 'noCredentials'
  | 'malformedCredentials'
  | 'unknownNode'
  | 'staleTimestamp'
  | 'badSignature'
  | 'replayedNonce'
  | 'nonceCacheFull';

export const AUTH_REJECTIONS: readonly AuthRejection[] = [
  'noCredentials',
  'malformedCredentials',
  'unknownNode',
  'staleTimestamp',
  'badSignature',
  'replayedNonce',
  'nonceCacheFull',
];

function mac(secret: Buffer, from: NodeId, to: NodeId, timestampMs: number, nonce: string): Buffer {
  return createHmac('sha256', secret)
    .update(`${MAC_DOMAIN}\n${from}\n${to}\n${timestampMs}\n${nonce}`)
    .digest();
}

/** Headers proving that `from` knows the cluster secret, for one upgrade to `to` at `nowMs`. */
export function authHeaders(
  secret: Buffer,
  from: NodeId,
  to: NodeId,
  nowMs: number,
  nonce: string = randomBytes(16).toString('hex'),
): Record<string, string> {
  const signature = mac(secret, from, to, nowMs, nonce).toString('base64url');
  return { [NODE_HEADER]: String(from), [AUTH_HEADER]: `v1.${nowMs}.${nonce}.${signature}` };
}

export type AuthResult =
  | { readonly ok: true; readonly nodeId: NodeId }
  | { readonly ok: false; readonly reason: AuthRejection; readonly claimedNode: NodeId | undefined };

export interface AuthVerifierOptions {
  readonly secret: Buffer;
  readonly localId: NodeId;
  readonly clockSkewMaxMs: number;
  readonly nonceCacheMax: number;
  readonly isKnownNode: (id: NodeId) => boolean;
}

/** Verifies upgrade headers; remembers accepted nonces until their timestamp leaves the window. */
export class AuthVerifier {
  /** nonce → time after which its timestamp is stale anyway and the entry can go. */
  private readonly nonces = new Map<string, number>();

  constructor(private readonly options: AuthVerifierOptions) {}

  get nonceCacheSize(): number {
    return this.nonces.size;
  }

  verify(headers: IncomingHttpHeaders, nowMs: number): AuthResult {
    const nodeHeader = headers[NODE_HEADER];
    const authHeader = headers[AUTH_HEADER];
    if (nodeHeader === undefined && authHeader === undefined) return reject('noCredentials', undefined);
    if (typeof nodeHeader !== 'string' || !NODE_PATTERN.test(nodeHeader)) {
      return reject('malformedCredentials', undefined);
    }
    const claimed = Number(nodeHeader);
    const parts = typeof authHeader === 'string' ? AUTH_PATTERN.exec(authHeader) : null;
    if (parts === null || !Number.isSafeInteger(claimed)) return reject('malformedCredentials', claimed);
    if (claimed === this.options.localId || !this.options.isKnownNode(claimed)) {
      return reject('unknownNode', claimed);
    }
    const timestampMs = Number(parts[1]);
    const nonce = parts[2]!;
    if (Math.abs(nowMs - timestampMs) > this.options.clockSkewMaxMs) return reject('staleTimestamp', claimed);
    const expected = mac(this.options.secret, claimed, this.options.localId, timestampMs, nonce);
    const given = Buffer.from(parts[3]!, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reject('badSignature', claimed);
    }
    if (this.nonces.has(nonce)) return reject('replayedNonce', claimed);
    if (!this.makeRoom(nowMs)) return reject('nonceCacheFull', claimed);
    this.nonces.set(nonce, timestampMs + this.options.clockSkewMaxMs);
    return { ok: true, nodeId: claimed };
  }

  /** Drops expired nonces (oldest first, then a full sweep if still full); false if the cache stays full. */
  private makeRoom(nowMs: number): boolean {
    for (const [nonce, expiresMs] of this.nonces) {
      if (expiresMs >= nowMs) break;
      this.nonces.delete(nonce);
    }
    if (this.nonces.size < this.options.nonceCacheMax) return true;
    for (const [nonce, expiresMs] of this.nonces) if (expiresMs < nowMs) this.nonces.delete(nonce);
    return this.nonces.size < this.options.nonceCacheMax;
  }
}

function reject(reason: AuthRejection, claimedNode: NodeId | undefined): AuthResult {
  return { ok: false, reason, claimedNode };
}
