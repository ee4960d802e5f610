/**
 * The wire and disk codec: messages, entries, snapshots metadata and conf changes as compact msgpack tuples.
 * Decoding validates every shape (msgpack decodes some garbage, such as byte 0xC1, without complaint) and
 * throws `InvalidMessageError`; decoded byte fields may share memory with the input buffer.
 */
import { Packr } from 'msgpackr';
import { InvalidMessageError } from './errors.ts';
import { assertNever, type Message } from './messages.ts';
import {
  type ConfChange,
  type ConfChangeItem,
  type ConfChangeOp,
  type ConfState,
  type Entry,
  EntryKind,
  type HardState,
  type SnapshotMeta,
} from './types.ts';

// No records and no shared structures: every buffer decodes on its own, in any order, on any thread.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

const TYPE_CODES = {
  append: 0,
  appendResponse: 1,
  vote: 2,
  preVote: 3,
  voteResponse: 4,
  preVoteResponse: 5,
  heartbeat: 6,
  heartbeatResponse: 7,
  snapshot: 8,
  timeoutNow: 9,
  propose: 10,
  readIndex: 11,
  readIndexResponse: 12,
  transferLeader: 13,
} as const satisfies Record<Message['type'], number>;

const TYPE_BY_CODE = Object.fromEntries(Object.entries(TYPE_CODES).map(([k, v]) => [v, k])) as Record<
  number,
  Message['type']
>;

const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------- encode

function entriesTuple(entries: readonly Entry[]): unknown[] {
  const out: unknown[] = new Array(entries.length * 4);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    out[i * 4] = e.term;
    out[i * 4 + 1] = e.index;
    out[i * 4 + 2] = e.kind;
    out[i * 4 + 3] = e.data;
  }
  return out;
}

function confStateTuple(cs: ConfState): unknown[] {
  return [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext, cs.autoLeave];
}

function snapshotMetaTuple(meta: SnapshotMeta): unknown[] {
  return [meta.index, meta.term, confStateTuple(meta.confState)];
}

function messageTuple(m: Message): unknown[] {
  const head = [TYPE_CODES[m.type], m.from, m.to, m.term];
  switch (m.type) {
    case 'append':
      return [...head, m.index, m.logTerm, m.commit, entriesTuple(m.entries)];
    case 'appendResponse':
      return [...head, m.index, m.reject ? 1 : 0, m.hintIndex, m.hintTerm];
    case 'vote':
    case 'preVote':
      return [...head, m.index, m.logTerm, m.transfer ? 1 : 0];
    case 'voteResponse':
    case 'preVoteResponse':
      return [...head, m.reject ? 1 : 0];
    case 'heartbeat':
      return [...head, m.commit, m.readRound, m.quiesce ? 1 : 0];
    case 'heartbeatResponse':
      return [...head, m.readRound];
    case 'snapshot':
      return [...head, snapshotMetaTuple(m.snapshot.meta), m.snapshot.data];
    case 'timeoutNow':
      return head;
    case 'propose':
      return [...head, entriesTuple(m.entries)];
    case 'readIndex':
      return [...head, m.context];
    case 'readIndexResponse':
      return [...head, m.index, m.context, m.reject ? 1 : 0];
    case 'transferLeader':
      return [...head, m.target];
    default:
      return assertNever(m);
  }
}

/** Encodes one message. The result may share a pooled ArrayBuffer: copy it before transferring it. */
export function encodeMessage(message: Message): Uint8Array {
  return packr.pack(messageTuple(message));
}

/** Encodes one log entry exactly as it is stored on disk. */
export function encodeEntry(entry: Entry): Uint8Array {
  return packr.pack([entry.term, entry.index, entry.kind, entry.data]);
}

export function encodeHardState(hs: HardState): Uint8Array {
  return packr.pack([hs.term, hs.vote, hs.commit]);
}

export function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  return packr.pack(snapshotMetaTuple(meta));
}

const CC_OPS: readonly ConfChangeOp[] = ['addVoter', 'addLearner', 'removeNode'];
const CC_TRANSITIONS = ['auto', 'joint-implicit', 'joint-explicit'] as const;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const items = cc.changes.flatMap((c) => [CC_OPS.indexOf(c.op), c.nodeId]);
  return packr.pack([CC_TRANSITIONS.indexOf(cc.transition ?? 'auto'), items, cc.context ?? EMPTY]);
}

// ---------------------------------------------------------------------------------------------- decode

function fail(problem: string): never {
  throw new InvalidMessageError(problem);
}

function unpack(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) fail('empty payload');
  try {
    return packr.unpack(bytes);
  } catch (error) {
    return fail(`undecodable bytes (${(error as Error).message})`);
  }
}

function tuple(value: unknown, minLength: number, what: string): unknown[] {
  if (!Array.isArray(value) || value.length < minLength) fail(`${what} is not a tuple of ${minLength}`);
  return value;
}

function uint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(`${what} is not a uint`);
  return value;
}

function flag(value: unknown, what: string): boolean {
  if (value !== 0 && value !== 1) fail(`${what} is not 0 or 1`);
  return value === 1;
}

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(`${what} is not binary`);
  return value;
}

function nodeIds(value: unknown, what: string): number[] {
  if (!Array.isArray(value)) fail(`${what} is not a list`);
  for (const id of value) if (uint(id, what) === 0) fail(`${what} contains node 0`);
  return value as number[];
}

function entryKind(value: unknown): EntryKind {
  if (value !== EntryKind.Normal && value !== EntryKind.ConfChange) fail('entry kind is unknown');
  return value;
}

function decodeEntries(value: unknown): Entry[] {
  if (!Array.isArray(value) || value.length % 4 !== 0) fail('entries are not a list of 4-tuples');
  const out: Entry[] = new Array(value.length / 4);
  for (let i = 0; i < out.length; i++) {
    out[i] = {
      term: uint(value[i * 4], 'entry term'),
      index: uint(value[i * 4 + 1], 'entry index'),
      kind: entryKind(value[i * 4 + 2]),
      data: bytes(value[i * 4 + 3], 'entry data'),
    };
  }
  return out;
}

function decodeConfStateTuple(value: unknown): ConfState {
  const t = tuple(value, 5, 'conf state');
  if (typeof t[4] !== 'boolean') fail('conf state autoLeave is not a boolean');
  return {
    voters: nodeIds(t[0], 'voters'),
    learners: nodeIds(t[1], 'learners'),
    votersOutgoing: nodeIds(t[2], 'outgoing voters'),
    learnersNext: nodeIds(t[3], 'next learners'),
    autoLeave: t[4],
  };
}

function decodeSnapshotMetaTuple(value: unknown): SnapshotMeta {
  const t = tuple(value, 3, 'snapshot meta');
  return {
    index: uint(t[0], 'snapshot index'),
    term: uint(t[1], 'snapshot term'),
    confState: decodeConfStateTuple(t[2]),
  };
}

/** Decodes and validates one message; throws `InvalidMessageError` on anything malformed. */
export function decodeMessage(payload: Uint8Array): Message {
  const t = tuple(unpack(payload), 4, 'message');
  const type = TYPE_BY_CODE[uint(t[0], 'message type')] ?? fail(`unknown message type ${String(t[0])}`);
  const from = uint(t[1], 'from');
  const to = uint(t[2], 'to');
  const term = uint(t[3], 'term');
  if (from === 0 || to === 0) fail('from/to must be node ids > 0');
  const base = { from, to, term };
  switch (type) {
    case 'append':
      tuple(t, 8, 'append');
      return {
        type,
        ...base,
        index: uint(t[4], 'index'),
        logTerm: uint(t[5], 'logTerm'),
        commit: uint(t[6], 'commit'),
        entries: decodeEntries(t[7]),
      };
    case 'appendResponse':
      tuple(t, 8, 'appendResponse');
      return {
        type,
        ...base,
        index: uint(t[4], 'index'),
        reject: flag(t[5], 'reject'),
        hintIndex: uint(t[6], 'hintIndex'),
        hintTerm: uint(t[7], 'hintTerm'),
      };
    case 'vote':
    case 'preVote':
      tuple(t, 7, type);
      return {
        type,
        ...base,
        index: uint(t[4], 'index'),
        logTerm: uint(t[5], 'logTerm'),
        transfer: flag(t[6], 'transfer'),
      };
    case 'voteResponse':
    case 'preVoteResponse':
      tuple(t, 5, type);
      return { type, ...base, reject: flag(t[4], 'reject') };
    case 'heartbeat':
      tuple(t, 7, type);
      return {
        type,
        ...base,
        commit: uint(t[4], 'commit'),
        readRound: uint(t[5], 'readRound'),
        quiesce: flag(t[6], 'quiesce'),
      };
    case 'heartbeatResponse':
      tuple(t, 5, type);
      return { type, ...base, readRound: uint(t[4], 'readRound') };
    case 'snapshot':
      tuple(t, 6, type);
      return {
        type,
        ...base,
        snapshot: { meta: decodeSnapshotMetaTuple(t[4]), data: bytes(t[5], 'snapshot data') },
      };
    case 'timeoutNow':
      return { type, ...base };
    case 'propose':
      tuple(t, 5, type);
      return { type, ...base, entries: decodeEntries(t[4]) };
    case 'readIndex':
      tuple(t, 5, type);
      return { type, ...base, context: bytes(t[4], 'context') };
    case 'readIndexResponse':
      tuple(t, 7, type);
      return {
        type,
        ...base,
        index: uint(t[4], 'index'),
        context: bytes(t[5], 'context'),
        reject: flag(t[6], 'reject'),
      };
    case 'transferLeader':
      tuple(t, 5, type);
      return { type, ...base, target: uint(t[4], 'target') };
    default:
      return assertNever(type);
  }
}

/** Decodes one stored entry; throws `InvalidMessageError` when the bytes are not an entry. */
export function decodeEntry(payload: Uint8Array): Entry {
  const t = tuple(unpack(payload), 4, 'entry');
  return {
    term: uint(t[0], 'entry term'),
    index: uint(t[1], 'entry index'),
    kind: entryKind(t[2]),
    data: bytes(t[3], 'entry data'),
  };
}

export function decodeHardState(payload: Uint8Array): HardState {
  const t = tuple(unpack(payload), 3, 'hard state');
  return { term: uint(t[0], 'term'), vote: uint(t[1], 'vote'), commit: uint(t[2], 'commit') };
}

export function decodeSnapshotMeta(payload: Uint8Array): SnapshotMeta {
  return decodeSnapshotMetaTuple(unpack(payload));
}

export function decodeConfChange(payload: Uint8Array): ConfChange {
  const t = tuple(unpack(payload), 3, 'conf change');
  const transition = CC_TRANSITIONS[uint(t[0], 'transition')] ?? fail('unknown conf change transition');
  const flat = t[1];
  if (!Array.isArray(flat) || flat.length % 2 !== 0) fail('conf change items are not pairs');
  const changes: ConfChangeItem[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const op = CC_OPS[uint(flat[i], 'conf change op')] ?? fail('unknown conf change op');
    const nodeId = uint(flat[i + 1], 'conf change node');
    if (nodeId === 0) fail('conf change node must be > 0');
    changes.push({ op, nodeId });
  }
  const context = bytes(t[2], 'conf change context');
  return context.length > 0 ? { changes, transition, context } : { changes, transition };
}

/** Bytes a message's payload contributes to flow control (entry data only, as etcd's `payloadSize`). */
export function entriesDataBytes(entries: readonly { readonly data: Uint8Array }[]): number {
  let total = 0;
  for (const e of entries) total += e.data.length;
  return total;
}
