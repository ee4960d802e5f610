/**
 * The client protocol over WebSocket: binary msgpack frames; a request `[id, op, args]`, a response
 * `[id, ok, result | error, leader?]`. Many requests may be in flight on one connection, and requests (or
 * responses) made in one turn leave as one frame holding a list of tuples. A `watch` request stays open: the
 * node pushes `[id, null, item]` tuples for it (live, events, progress) until its final response (an error,
 * or `unwatch`). Every op's arguments have a schema,
 * checked here once after decoding (msgpack accepts some garbage silently), so the server handles typed data.
 */
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { KIND_NAME, WATCH_KEY_CHARS_MAX } from '../define/machine.ts';
import { isWireError, ProtocolError, type WireError } from '../errors.ts';

const packr = new Packr({ useRecords: false });

/** Frames holding more than this many requests or responses are refused. */
export const FRAME_ITEMS_MAX = 65_536;

const groupId = z.string().min(1).max(100);
const kind = z.string().regex(KIND_NAME);
const nodeId = z.number().int().positive();
const timeoutMs = z.number().int().positive().max(3_600_000).optional();
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be binary');
/** A call's target: a group, or the shard of a key (within a named shard set). */
const target = {
  group: groupId.optional(),
  key: z.string().max(1024).optional(),
  shards: z.string().min(1).max(100).optional(),
};

/** The arguments of every op: one schema each, the only place a request's shape is checked. */
export const API_ARGS = {
  execute: z.object({
    kind,
    ...target,
    payload: bytes,
    session: z
      .tuple([z.string().max(64), z.number().int().nonnegative(), z.number().int().nonnegative()])
      .optional(),
    fence: z.tuple([groupId, z.number().int().positive()]).optional(),
    timeoutMs,
  }),
  query: z.object({
    kind,
    ...target,
    payload: bytes,
    consistency: z.enum(['linearizable', 'lease', 'stale']).default('linearizable'),
    timeoutMs,
  }),
  watch: z
    .object({
      group: groupId,
      key: z.string().min(1).max(WATCH_KEY_CHARS_MAX).optional(),
      prefix: z.string().max(WATCH_KEY_CHARS_MAX).optional(),
      /** Deliver changes from this revision on (a log index); omitted: from now. */
      fromRevision: z.number().int().positive().optional(),
      /** Progress notifications while idle, every this many ms (0: none). */
      progressMs: z.number().int().min(0).max(3_600_000).optional(),
    })
    .refine((a) => a.key === undefined || a.prefix === undefined, {
      message: 'a filter has a key or a prefix, not both',
      path: ['prefix'],
    }),
  unwatch: z.object({ watch: z.number().int().nonnegative() }),
  status: z.object({}),
  topology: z.object({}),
  // Only types here: the node's own checks refuse a bad id or address with a typed `InvalidNodeError`.
  addNode: z.object({ id: z.number(), rpc: z.string().max(300), api: z.string().max(300) }),
  removeNode: z.object({ id: nodeId }),
  transfer: z.object({ group: groupId, to: nodeId }),
  createGroup: z.object({ id: groupId, kind }),
  deleteGroup: z.object({ id: groupId }),
  createShards: z.object({
    prefix: z.string().min(1).max(80),
    count: z.number().int().min(1).max(4096),
    kind,
  }),
  faults: z.union([
    z.object({ blockPeers: z.array(nodeId).max(1000) }),
    z.object({ group: groupId, kind: z.enum(['crash-actor', 'exit-thread', 'fail-storage']) }),
  ]),
} as const;

export type ApiOp = keyof typeof API_ARGS;
export const API_OPS = Object.keys(API_ARGS) as ApiOp[];

export type ApiArgs<Op extends ApiOp> = z.output<(typeof API_ARGS)[Op]>;
/** What a sender passes (defaults not yet applied). */
export type ApiArgsIn<Op extends ApiOp> = z.input<(typeof API_ARGS)[Op]>;

/** A request with its arguments checked: a union on `op`. */
export type ApiRequest = {
  [Op in ApiOp]: { readonly id: number; readonly op: Op; readonly args: ApiArgs<Op> };
}[ApiOp];

/** What a sender builds (before its arguments are checked on the other side). */
export interface OutgoingRequest {
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

/** One change a watch delivers: its revision (log index), its key, and what the machine emitted. */
export type WatchEvent = readonly [revision: number, key: string, data: unknown];

/**
 * What a node pushes for an open watch: `live` once every change from `revision` on is sure to be delivered;
 * `events` in log order, every change of a revision in one item, with `through` (everything up to it was
 * delivered); `progress` while idle (nothing matched up to `through`).
 */
export type WatchItem =
  | readonly ['live', revision: number]
  | readonly ['events', through: number, events: readonly WatchEvent[]]
  | readonly ['progress', through: number];

/** A pushed item of an open request (a watch). */
export interface ApiPush {
  readonly id: number;
  readonly item: WatchItem;
}

export function isPush(r: ApiResponse | ApiPush): r is ApiPush {
  return 'item' in r;
}

function responseTuple(r: ApiResponse | ApiPush): unknown[] {
  if (isPush(r)) return [r.id, null, r.item];
  const t = r.ok ? [r.id, true, r.result ?? null] : [r.id, false, r.error];
  if (r.leader) t.push(r.leader);
  return t;
}

function requestTuple(r: OutgoingRequest): unknown[] {
  return [r.id, r.op, r.args];
}

export function encodeRequests(requests: readonly OutgoingRequest[]): Uint8Array {
  return packr.pack(requests.length === 1 ? requestTuple(requests[0]!) : requests.map(requestTuple));
}

export function encodeResponses(responses: readonly (ApiResponse | ApiPush)[]): Uint8Array {
  return packr.pack(responses.length === 1 ? responseTuple(responses[0]!) : responses.map(responseTuple));
}

function unpack(frame: Uint8Array): unknown {
  try {
    return packr.unpack(frame);
  } catch (error) {
    throw new ProtocolError(`undecodable frame (${(error as Error).message})`);
  }
}

function items(value: unknown): unknown[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new ProtocolError('a frame is a tuple or a list of tuples');
  if (!Array.isArray(value[0])) return [value];
  if (value.length > FRAME_ITEMS_MAX)
    throw new ProtocolError(`more than ${FRAME_ITEMS_MAX} items in one frame`);
  return value;
}

/** A request whose envelope is fine but whose op or arguments are not: answered with this error, by id. */
export interface RefusedRequest {
  readonly id: number;
  readonly error: ProtocolError;
}

/**
 * Decodes a frame of requests. A frame that is not a list of `[id, op, args]` tuples throws `ProtocolError`
 * (the connection is closed); a well-framed request with an unknown op or bad arguments is returned in
 * `refused`, so its caller gets a typed error and the connection stays up.
 */
export function decodeRequests(frame: Uint8Array): { requests: ApiRequest[]; refused: RefusedRequest[] } {
  const requests: ApiRequest[] = [];
  const refused: RefusedRequest[] = [];
  for (const t of items(unpack(frame))) {
    if (!Array.isArray(t) || t.length !== 3) throw new ProtocolError('a request is [id, op, args]');
    const [id, op, args] = t as unknown[];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
      throw new ProtocolError('request id must be a uint');
    if (typeof op !== 'string' || !Object.hasOwn(API_ARGS, op)) {
      refused.push({ id, error: new ProtocolError(`unknown op ${JSON.stringify(op)}`) });
      continue;
    }
    const parsed = API_ARGS[op as ApiOp].safeParse(args);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.map(String).join('.') ?? '';
      refused.push({
        id,
        error: new ProtocolError(`${op}: ${field ? `${field}: ` : ''}${issue?.message ?? 'bad arguments'}`),
      });
      continue;
    }
    requests.push({ id, op, args: parsed.data } as ApiRequest);
  }
  return { requests, refused };
}

export function decodeResponses(frame: Uint8Array): (ApiResponse | ApiPush)[] {
  return items(unpack(frame)).map(responseFrom);
}

const revision = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function watchItemFrom(v: unknown): WatchItem {
  if (Array.isArray(v)) {
    if ((v[0] === 'live' || v[0] === 'progress') && v.length === 2 && revision(v[1])) return v as never;
    if (v[0] === 'events' && v.length === 3 && revision(v[1]) && Array.isArray(v[2])) {
      for (const e of v[2] as unknown[])
        if (!Array.isArray(e) || e.length !== 3 || !revision(e[0]) || typeof e[1] !== 'string')
          throw new ProtocolError('a watch event is [revision, key, data]');
      return v as never;
    }
  }
  throw new ProtocolError('malformed watch item');
}

function responseFrom(t: unknown): ApiResponse | ApiPush {
  if (Array.isArray(t) && t.length === 3 && t[1] === null && typeof t[0] === 'number')
    return { id: t[0], item: watchItemFrom(t[2]) };
  if (
    !Array.isArray(t) ||
    t.length < 3 ||
    t.length > 4 ||
    typeof t[0] !== 'number' ||
    typeof t[1] !== 'boolean'
  )
    throw new ProtocolError('a response is [id, ok, payload, leader?]');
  const leader = typeof t[3] === 'number' && Number.isSafeInteger(t[3]) && t[3] > 0 ? { leader: t[3] } : {};
  if (t[1]) return { id: t[0], ok: true, result: t[2], ...leader };
  if (!isWireError(t[2])) throw new ProtocolError('malformed error payload');
  return { id: t[0], ok: false, error: t[2], ...leader };
}
