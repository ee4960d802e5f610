/**
 * The wire between the actor systems of two nodes: a batch is one msgpack array `[WIRE_VERSION, slot, frame,
 * slot, frame, …]`. The peer is authenticated but may run other code, so every frame is checked before use.
 */
import type { ErrorDescriptor } from './errors.ts';
import {
  type ActorId,
  type Control,
  type ControlFrame,
  type DeliverFrame,
  F_CONTROL,
  F_DELIVER,
  F_REPLY,
  F_TELLS,
  type NodeFrame,
  type ReplyFrame,
  type TellsFrame,
} from './frames.ts';
import type { AnyActorRef, Message } from './protocol.ts';

/** Changes when the batch or frame layout does; a batch of another version is malformed. */
export const WIRE_VERSION = 1;

type Fields = Record<string, unknown>;

const isObject = (x: unknown): x is Fields => typeof x === 'object' && x !== null && !Array.isArray(x);
const isPath = (x: unknown): x is string => typeof x === 'string' && x.startsWith('/');
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0;
const isSlot = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= -1;
const isMessage = (x: unknown): x is Message => isObject(x) && typeof x.type === 'string';
const isOptionalString = (x: unknown): x is string | null | undefined =>
  x === undefined || x === null || typeof x === 'string';

/** A node id as the node package gives it: a safe integer ≥ 0. */
export const isNodeId = isCount;

/** The entries of a decoded batch (index 1, 3, … slots; 2, 4, … frames), or undefined if it is not a batch. */
export function batchEntries(value: unknown): unknown[] | undefined {
  if (!Array.isArray(value) || value.length % 2 !== 1 || value[0] !== WIRE_VERSION) return undefined;
  return value;
}

/**
 * Frame `raw` for thread `slot`, sent by node `from`, rebuilt from checked fields; undefined when malformed.
 * Refs of the actors that live on `from` (watchers, terminated actors, lookup answers) get `node: from`
 * whatever they claim, so a peer can speak only for its own actors.
 */
export function checkFrame(slot: unknown, raw: unknown, from: number): NodeFrame | undefined {
  if (!isSlot(slot) || !Array.isArray(raw)) return undefined;
  // A switch over untrusted input: unknown kinds are malformed, not impossible (no assertNever here).
  switch (raw[0]) {
    case F_DELIVER:
      return checkDeliver(raw, from);
    case F_TELLS:
      return checkTells(raw, from);
    case F_REPLY:
      return checkReply(raw);
    case F_CONTROL: {
      const control = raw.length === 2 ? checkControl(raw[1], slot, from) : undefined;
      return control === undefined ? undefined : ([F_CONTROL, control] satisfies ControlFrame);
    }
    default:
      return undefined;
  }
}

function checkDeliver(raw: unknown[], from: number): DeliverFrame | undefined {
  if (raw.length !== 7) return undefined;
  const [, path, uid, message, sender, replySlot, replyId] = raw;
  if (!isPath(path) || !isCount(uid) || !isMessage(message)) return undefined;
  if (!isSlot(replySlot) || !isCount(replyId)) return undefined;
  const senderRef = checkSender(sender, from);
  return senderRef === false ? undefined : [F_DELIVER, path, uid, message, senderRef, replySlot, replyId];
}

function checkTells(raw: unknown[], from: number): TellsFrame | undefined {
  if (raw.length !== 5) return undefined;
  const [, path, uid, sender, messages] = raw;
  if (!isPath(path) || !isCount(uid) || !Array.isArray(messages) || messages.length === 0) return undefined;
  if (!messages.every(isMessage)) return undefined;
  const senderRef = checkSender(sender, from);
  return senderRef === false ? undefined : [F_TELLS, path, uid, senderRef, messages];
}

function checkReply(raw: unknown[]): ReplyFrame | undefined {
  if (raw.length !== 4) return undefined;
  const [, id, ok, value] = raw;
  if (!isId(id) || typeof ok !== 'boolean') return undefined;
  if (ok) return [F_REPLY, id, true, value];
  const descriptor = checkDescriptor(value);
  return descriptor === undefined ? undefined : [F_REPLY, id, false, descriptor];
}

/** The death-watch controls, lookups, and (to main only) the sender's own host deaths and restarts. */
function checkControl(x: unknown, slot: number, from: number): Control | undefined {
  if (!isObject(x)) return undefined;
  switch (x.type) {
    case 'watch':
    case 'unwatch': {
      const target = checkActorId(x.target);
      const watcher = checkRef(x.watcher, from, true);
      if (target === undefined || watcher === undefined) return undefined;
      return x.type === 'watch' ? { type: 'watch', target, watcher } : { type: 'unwatch', target, watcher };
    }
    case 'terminated': {
      const watcher = checkActorId(x.watcher);
      const ref = checkRef(x.ref, from, true);
      return watcher === undefined || ref === undefined ? undefined : { type: 'terminated', watcher, ref };
    }
    case 'lookup':
      if (slot !== -1 || !isId(x.id) || typeof x.name !== 'string') return undefined;
      return { type: 'lookup', id: x.id, name: x.name };
    case 'peer-down':
      return slot === -1 && isCount(x.slot) ? { type: 'peer-down', slot: x.slot } : undefined;
    case 'host-restarted': {
      if (slot !== -1 || !isCount(x.slot) || !Array.isArray(x.respawned)) return undefined;
      const respawned = x.respawned.map(checkActorId);
      if (!respawned.every((id) => id !== undefined)) return undefined;
      return { type: 'host-restarted', slot: x.slot, respawned: respawned as ActorId[] };
    }
    default:
      return undefined;
  }
}

function checkActorId(x: unknown): ActorId | undefined {
  return isObject(x) && isPath(x.path) && isCount(x.uid) ? { path: x.path, uid: x.uid } : undefined;
}

/**
 * A ref rebuilt from checked fields. Its node is `node` when `force`d (an actor of the sender), else the one it
 * names (a ref may point at a third node), `node` when it names none.
 */
export function checkRef(x: unknown, node: number, force: boolean): AnyActorRef | undefined {
  if (!isObject(x) || !isPath(x.path) || !isCount(x.uid) || !isSlot(x.slot)) return undefined;
  if (force || x.node === undefined || x.node === null)
    return { path: x.path, uid: x.uid, slot: x.slot, node };
  return isNodeId(x.node) ? { path: x.path, uid: x.uid, slot: x.slot, node: x.node } : undefined;
}

/** A sender: none (undefined), a ref, or `false` when malformed. */
function checkSender(x: unknown, from: number): AnyActorRef | undefined | false {
  if (x === undefined || x === null) return undefined;
  return checkRef(x, from, false) ?? false;
}

/** An error descriptor with fresh fields (`__proto__` is dropped: `rebuildError` assigns them to an error). */
function checkDescriptor(x: unknown): ErrorDescriptor | undefined {
  if (!isObject(x) || typeof x.name !== 'string' || typeof x.message !== 'string') return undefined;
  if (!isOptionalString(x.code) || !isOptionalString(x.stack) || !isObject(x.fields)) return undefined;
  const fields: Fields = {};
  for (const key of Object.keys(x.fields)) if (key !== '__proto__') fields[key] = x.fields[key];
  return { code: x.code ?? undefined, name: x.name, message: x.message, stack: x.stack ?? undefined, fields };
}
