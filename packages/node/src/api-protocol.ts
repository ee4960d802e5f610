/**
 * The client protocol over WebSocket: binary msgpack frames, a request `[id, op, args]` and a response
 * `[id, ok, result | error]`. Many requests may be in flight on one connection (pipelining); responses
 * carry the request id. Shapes are validated after decoding (msgpack accepts some garbage silently).
 */
import { Packr } from 'msgpackr';
import { ProtocolError } from './errors.ts';
import type { WireError } from './wire-errors.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });

export const API_OPS = [
  'execute',
  'read',
  'status',
  'topology',
  'addNode',
  'removeNode',
  'transfer',
  'faults',
] as const;
export type ApiOp = (typeof API_OPS)[number];

export interface ApiRequest {
  readonly id: number;
  readonly op: ApiOp;
  readonly args: Record<string, unknown>;
}

export type ApiResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

/** Where clients should send a group's requests: its leader and every node's API address. */
export interface Topology {
  readonly nodeId: number;
  readonly userShards: number;
  readonly leaders: Record<string, number>;
  readonly nodes: Record<string, string>;
}

export function encodeRequest(r: ApiRequest): Uint8Array {
  return packr.pack([r.id, r.op, r.args]);
}

export function encodeResponse(r: ApiResponse): Uint8Array {
  return packr.pack(r.ok ? [r.id, true, r.result ?? null] : [r.id, false, r.error]);
}

function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (error) {
    throw new ProtocolError(`undecodable frame (${(error as Error).message})`);
  }
}

export function decodeRequest(bytes: Uint8Array): ApiRequest {
  const t = unpack(bytes);
  if (!Array.isArray(t) || t.length !== 3) throw new ProtocolError('a request is [id, op, args]');
  const [id, op, args] = t as unknown[];
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
    throw new ProtocolError('request id must be a uint');
  if (typeof op !== 'string' || !(API_OPS as readonly string[]).includes(op))
    throw new ProtocolError(`unknown op ${String(op)}`);
  if (typeof args !== 'object' || args === null || Array.isArray(args))
    throw new ProtocolError('request args must be a map');
  return { id, op: op as ApiOp, args: args as Record<string, unknown> };
}

export function decodeResponse(bytes: Uint8Array): ApiResponse {
  const t = unpack(bytes);
  if (!Array.isArray(t) || t.length !== 3 || typeof t[0] !== 'number' || typeof t[1] !== 'boolean') {
    throw new ProtocolError('a response is [id, ok, payload]');
  }
  if (t[1]) return { id: t[0], ok: true, result: t[2] };
  const e = t[2] as WireError;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string')
    throw new ProtocolError('malformed error payload');
  return { id: t[0], ok: false, error: e };
}
