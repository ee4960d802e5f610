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
  'createGroup',
  'deleteGroup',
] as const;
export type ApiOp = (typeof API_OPS)[number];

export interface ApiRequest {
  readonly id: number;
  readonly op: ApiOp;
  readonly args: Record<string, unknown>;
}

/**
 * `leader` (optional) is the node this node believes leads the request's group: a client that asked the wrong
 * node sends the next request of that group straight to the leader, saving the forwarding hop.
 */
export type ApiResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown; readonly leader?: number }
  | { readonly id: number; readonly ok: false; readonly error: WireError; readonly leader?: number };

/** Where clients should send a group's requests: its leader and every node's API address. */
export interface Topology {
  readonly nodeId: number;
  readonly userShards: number;
  readonly leaders: Record<string, number>;
  readonly nodes: Record<string, string>;
}

function requestTuple(r: ApiRequest): unknown[] {
  return [r.id, r.op, r.args];
}

function responseTuple(r: ApiResponse): unknown[] {
  const t = r.ok ? [r.id, true, r.result ?? null] : [r.id, false, r.error];
  if (r.leader) t.push(r.leader);
  return t;
}

/**
 * One frame carries one request, or several as a list of request tuples: requests made in one turn leave
 * together (one WebSocket frame, one syscall) — the same for responses.
 */
export function encodeRequests(requests: readonly ApiRequest[]): Uint8Array {
  return packr.pack(requests.length === 1 ? requestTuple(requests[0]!) : requests.map(requestTuple));
}

export function encodeResponses(responses: readonly ApiResponse[]): Uint8Array {
  return packr.pack(responses.length === 1 ? responseTuple(responses[0]!) : responses.map(responseTuple));
}

export function encodeRequest(r: ApiRequest): Uint8Array {
  return encodeRequests([r]);
}

export function encodeResponse(r: ApiResponse): Uint8Array {
  return encodeResponses([r]);
}

/** Frames holding more than this many requests or responses are refused. */
export const FRAME_ITEMS_MAX = 65_536;

function items(value: unknown): unknown[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new ProtocolError('a frame is a tuple or a list of tuples');
  if (!Array.isArray(value[0])) return [value];
  if (value.length > FRAME_ITEMS_MAX)
    throw new ProtocolError(`more than ${FRAME_ITEMS_MAX} items in one frame`);
  return value;
}

function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (error) {
    throw new ProtocolError(`undecodable frame (${(error as Error).message})`);
  }
}

/** Decodes a frame of requests; any malformed item makes the whole frame a `ProtocolError`. */
export function decodeRequests(bytes: Uint8Array): ApiRequest[] {
  return items(unpack(bytes)).map(requestFrom);
}

export function decodeResponses(bytes: Uint8Array): ApiResponse[] {
  return items(unpack(bytes)).map(responseFrom);
}

export function decodeRequest(bytes: Uint8Array): ApiRequest {
  return requestFrom(unpack(bytes));
}

export function decodeResponse(bytes: Uint8Array): ApiResponse {
  return responseFrom(unpack(bytes));
}

function requestFrom(t: unknown): ApiRequest {
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

function responseFrom(t: unknown): ApiResponse {
  if (
    !Array.isArray(t) ||
    t.length < 3 ||
    t.length > 4 ||
    typeof t[0] !== 'number' ||
    typeof t[1] !== 'boolean'
  ) {
    throw new ProtocolError('a response is [id, ok, payload, leader?]');
  }
  const leader = typeof t[3] === 'number' && Number.isSafeInteger(t[3]) && t[3] > 0 ? { leader: t[3] } : {};
  if (t[1]) return { id: t[0], ok: true, result: t[2], ...leader };
  const e = t[2] as WireError;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string')
    throw new ProtocolError('malformed error payload');
  return { id: t[0], ok: false, error: e, ...leader };
}
