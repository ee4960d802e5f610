/**
 * Errors a caller of Flotilla can receive, from its own process or from a node across the wire, and the one
 * registry that turns them into plain `{ code, message, …fields }` and back into the same classes.
 * Consensus errors (`NotLeaderError`, …) come from @flotilla/core and are registered here too.
 */
import {
  FlotillaError,
  type GroupId,
  InvalidConfChangeError,
  InvalidConfigError,
  type NodeId,
  NotLeaderError,
  PeerUnreachableError,
  ProposalDroppedError,
  TooManyUncommittedError,
} from '@flotilla/core';

/** A group this node does not host (unknown to the catalog, or not yet created here). */
export class UnknownGroupError extends FlotillaError {
  readonly group: GroupId;
  constructor(group: GroupId) {
    super('FLOTILLA_UNKNOWN_GROUP', `group ${group} is not hosted by this node`);
    this.group = group;
  }
}

/** A request did not complete in time (no leader, leader unreachable, commit too slow). */
export class RequestTimeoutError extends FlotillaError {
  readonly group: GroupId;
  readonly timeoutMs: number;
  constructor(group: GroupId, timeoutMs: number, detail = '') {
    super(
      'FLOTILLA_TIMEOUT',
      `request to group ${group} timed out after ${timeoutMs} ms${detail ? `: ${detail}` : ''}`,
    );
    this.group = group;
    this.timeoutMs = timeoutMs;
  }
}

export type InvalidNodeReason =
  | 'bad-id'
  | 'missing-rpc-address'
  | 'missing-api-address'
  | 'already-member'
  /** Its rpc or api address is another member's (it would never answer as itself). */
  | 'address-in-use'
  | 'not-member'
  /** A node was asked to remove itself: it would not see its removal complete (its peers cut it off). */
  | 'self-removal';

/** `addNode` / `removeNode` refused the node; `reason` says why. */
export class InvalidNodeError extends FlotillaError {
  readonly nodeId: NodeId;
  readonly reason: InvalidNodeReason;
  constructor(nodeId: NodeId, reason: InvalidNodeReason, detail: string) {
    super('FLOTILLA_INVALID_NODE', `node ${nodeId}: ${detail}`);
    this.nodeId = nodeId;
    this.reason = reason;
  }
}

/** The node is shutting down or not started. */
export class NodeStoppedError extends FlotillaError {
  readonly nodeId: NodeId;
  constructor(nodeId: NodeId) {
    super('FLOTILLA_NODE_STOPPED', `node ${nodeId} is not running`);
    this.nodeId = nodeId;
  }
}

/** The cluster did not form (no leader in every group) within the time given. */
export class ClusterFormationError extends FlotillaError {
  readonly missing: readonly GroupId[];
  constructor(timeoutMs: number, missing: readonly GroupId[]) {
    super(
      'FLOTILLA_CLUSTER_FORMATION',
      `cluster did not form within ${timeoutMs} ms; no leader in ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`,
    );
    this.missing = missing;
  }
}

/** A request or response that does not have the expected shape (malformed frame, unknown op, wrong type). */
export class ProtocolError extends FlotillaError {
  constructor(detail: string) {
    super('FLOTILLA_PROTOCOL', `protocol error: ${detail}`);
  }
}

/** A group id that cannot be created or deleted (bad characters, reserved, routed to by a shard set). */
export class InvalidGroupError extends FlotillaError {
  readonly group: GroupId;
  constructor(group: GroupId, problem: string) {
    super('FLOTILLA_INVALID_GROUP', `group ${JSON.stringify(group)}: ${problem}`);
    this.group = group;
  }
}

/**
 * A command, query or result that fails its schema. `path` names the field (`amount`, `items.3.id`);
 * nothing was proposed.
 */
export class SchemaError extends FlotillaError {
  readonly kind: string;
  readonly operation: string;
  readonly path: string;
  constructor(kind: string, operation: string, path: string, problem: string) {
    super('FLOTILLA_SCHEMA', `${kind}.${operation}: ${path === '' ? 'input' : `field ${path}`}: ${problem}`);
    this.kind = kind;
    this.operation = operation;
    this.path = path;
  }
}

/** A command or query name the machine kind does not define. */
export class UnknownOperationError extends FlotillaError {
  readonly kind: string;
  readonly operation: string;
  constructor(kind: string, operation: string, known: readonly string[]) {
    super(
      'FLOTILLA_UNKNOWN_OPERATION',
      `machine kind ${kind} has no ${JSON.stringify(operation)}; it has ${known.join(', ') || 'none'}`,
    );
    this.kind = kind;
    this.operation = operation;
  }
}

/**
 * A machine kind this process has no code for. A node that lacks a kind refuses that kind's replicas (and
 * keeps serving the rest), so a rolling deploy of new code is possible; a caller retries another node.
 */
export class UnknownKindError extends FlotillaError {
  readonly kind: string;
  readonly group: GroupId;
  constructor(kind: string, group: GroupId = '') {
    super(
      'FLOTILLA_UNKNOWN_KIND',
      `no machine kind ${JSON.stringify(kind)} is registered here${group ? ` (group ${group})` : ''}`,
    );
    this.kind = kind;
    this.group = group;
  }
}

/** An entity type no registered app defines. */
export class UnknownEntityError extends FlotillaError {
  readonly entity: string;
  constructor(entity: string) {
    super('FLOTILLA_UNKNOWN_ENTITY', `no entity type ${JSON.stringify(entity)} is registered`);
    this.entity = entity;
  }
}

/** A call made with one machine kind to a group that runs another. */
export class WrongKindError extends FlotillaError {
  readonly group: GroupId;
  readonly expected: string;
  readonly actual: string;
  constructor(group: GroupId, expected: string, actual: string) {
    super('FLOTILLA_WRONG_KIND', `group ${group} runs machine kind ${actual}, not ${expected}`);
    this.group = group;
    this.expected = expected;
    this.actual = actual;
  }
}

/** No shard set routes keys for this kind (or the named set does not exist). */
export class UnknownShardsError extends FlotillaError {
  readonly shards: string;
  constructor(shards: string, detail: string) {
    super('FLOTILLA_UNKNOWN_SHARDS', `shard set ${JSON.stringify(shards)}: ${detail}`);
    this.shards = shards;
  }
}

/**
 * The machine refused a command on purpose (`ctx.reject`), or its `apply` threw (`reason` 'apply-threw').
 * Deterministic: every replica records the same outcome; a retry of the same session returns it again.
 */
export class ApplicationError extends FlotillaError {
  readonly group: GroupId;
  readonly kind: string;
  readonly operation: string;
  readonly reason: string;
  readonly details: unknown;
  constructor(
    where: { group: GroupId; kind: string; operation: string },
    reason: string,
    detail: string,
    details?: unknown,
  ) {
    super(
      'FLOTILLA_APPLICATION',
      `${where.kind}.${where.operation} on ${where.group} refused (${reason}): ${detail}`,
    );
    this.group = where.group;
    this.kind = where.kind;
    this.operation = where.operation;
    this.reason = reason;
    this.details = details;
  }
}

/**
 * A command carrying a fencing token older than the group (or source group) has seen: it was sent by a
 * leader-only actor whose leadership is over. Refused at apply, on every replica alike.
 */
export class StaleFenceError extends FlotillaError {
  readonly group: GroupId;
  readonly fenceGroup: GroupId;
  readonly fenceTerm: number;
  readonly currentTerm: number;
  constructor(group: GroupId, fence: { group: GroupId; term: number } | undefined, currentTerm: number) {
    super(
      'FLOTILLA_STALE_FENCE',
      fence === undefined
        ? `group ${group} requires a fencing token and the command carries none`
        : `group ${group} refused a command fenced by ${fence.group} term ${fence.term}; current term ${currentTerm}`,
    );
    this.group = group;
    this.fenceGroup = fence?.group ?? '';
    this.fenceTerm = fence?.term ?? 0;
    this.currentTerm = currentTerm;
  }
}

/** A retried command older than every result its session still keeps: it may have been applied already. */
export class StaleSessionError extends FlotillaError {
  readonly group: GroupId;
  readonly clientId: string;
  readonly sequence: number;
  constructor(group: GroupId, clientId: string, sequence: number) {
    super(
      'FLOTILLA_STALE_SESSION',
      `group ${group}: command ${sequence} of client ${clientId} is older than its kept results`,
    );
    this.group = group;
    this.clientId = clientId;
    this.sequence = sequence;
  }
}

/** A command, query or payload over its byte limit; nothing was proposed. */
export class PayloadTooLargeError extends FlotillaError {
  readonly what: string;
  readonly bytes: number;
  readonly bytesMax: number;
  constructor(what: string, bytes: number, bytesMax: number) {
    super('FLOTILLA_PAYLOAD_TOO_LARGE', `${what} is ${bytes} bytes; the limit is ${bytesMax}`);
    this.what = what;
    this.bytes = bytes;
    this.bytesMax = bytesMax;
  }
}

/**
 * A watch asked for revisions this replica no longer keeps (or never had: its history starts after a restart
 * or a snapshot). Re-read the state, then watch again from `oldestRevision` or later.
 */
export class WatchCompactedError extends FlotillaError {
  readonly group: GroupId;
  readonly revision: number;
  readonly oldestRevision: number;
  constructor(group: GroupId, revision: number, oldestRevision: number) {
    super(
      'FLOTILLA_WATCH_COMPACTED',
      `group ${group}: revision ${revision} is compacted; the oldest this replica can watch from is ${oldestRevision}`,
    );
    this.group = group;
    this.revision = revision;
    this.oldestRevision = oldestRevision;
  }
}

/** A watch from a revision the group has not reached (nothing was registered). */
export class WatchFutureRevisionError extends FlotillaError {
  readonly group: GroupId;
  readonly revision: number;
  readonly appliedIndex: number;
  constructor(group: GroupId, revision: number, appliedIndex: number) {
    super(
      'FLOTILLA_WATCH_FUTURE_REVISION',
      `group ${group}: revision ${revision} is in the future; this replica has applied up to ${appliedIndex}`,
    );
    this.group = group;
    this.revision = revision;
    this.appliedIndex = appliedIndex;
  }
}

/**
 * A watch was cancelled because its subscriber fell behind: more than the node's bound was buffered for its
 * connection. Nothing at or after `resumeFrom` was sent: watch again from there (on this node or another).
 */
export class WatchOverflowError extends FlotillaError {
  readonly group: GroupId;
  readonly resumeFrom: number;
  readonly bufferedBytes: number;
  constructor(group: GroupId, resumeFrom: number, bufferedBytes: number) {
    super(
      'FLOTILLA_WATCH_OVERFLOW',
      `watch on ${group} cancelled: ${bufferedBytes} bytes buffered for a slow subscriber; resume from revision ${resumeFrom}`,
    );
    this.group = group;
    this.resumeFrom = resumeFrom;
    this.bufferedBytes = bufferedBytes;
  }
}

/** The client API refused the connection: no token, or one no configured client has. */
export class UnauthenticatedError extends FlotillaError {
  readonly address: string;
  constructor(address: string, detail = 'no valid token') {
    super('FLOTILLA_UNAUTHENTICATED', `the client API at ${address} refused the connection: ${detail}`);
    this.address = address;
  }
}

/** The client's role does not allow the operation (admin calls need `admin`, commands `write`). */
export class ForbiddenError extends FlotillaError {
  readonly op: string;
  readonly role: string;
  readonly required: string;
  constructor(op: string, role: string, required: string) {
    super('FLOTILLA_FORBIDDEN', `${op} needs the ${required} role; this client has ${role}`);
    this.op = op;
    this.role = role;
    this.required = required;
  }
}

// ------------------------------------------------------------------------------------------- the wire

/** An error as it travels: its code, its message, and its fields (plain data). */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

type Rebuild = (w: WireError) => FlotillaError;

const str = (w: WireError, key: string): string => (typeof w[key] === 'string' ? (w[key] as string) : '');
const num = (w: WireError, key: string): number => (typeof w[key] === 'number' ? (w[key] as number) : 0);

/** code → how to rebuild it. One place; every class that crosses a process boundary is listed. */
const REGISTRY: Record<string, Rebuild> = {
  FLOTILLA_NOT_LEADER: (w) => new NotLeaderError(str(w, 'group'), num(w, 'leaderHint')),
  FLOTILLA_PROPOSAL_DROPPED: (w) => new ProposalDroppedError(str(w, 'group'), str(w, 'reason')),
  FLOTILLA_TOO_MANY_UNCOMMITTED: (w) =>
    new TooManyUncommittedError(str(w, 'group'), num(w, 'uncommittedBytes'), num(w, 'maxUncommittedBytes')),
  FLOTILLA_PEER_UNREACHABLE: (w) => new PeerUnreachableError(num(w, 'peer')),
  FLOTILLA_INVALID_CONFIG: (w) => new InvalidConfigError(str(w, 'key'), ''),
  FLOTILLA_INVALID_CONF_CHANGE: () => new InvalidConfChangeError(''),
  FLOTILLA_UNKNOWN_GROUP: (w) => new UnknownGroupError(str(w, 'group')),
  FLOTILLA_TIMEOUT: (w) => new RequestTimeoutError(str(w, 'group'), num(w, 'timeoutMs')),
  FLOTILLA_INVALID_NODE: (w) =>
    new InvalidNodeError(num(w, 'nodeId'), (str(w, 'reason') || 'bad-id') as InvalidNodeReason, ''),
  FLOTILLA_NODE_STOPPED: (w) => new NodeStoppedError(num(w, 'nodeId')),
  FLOTILLA_CLUSTER_FORMATION: (w) =>
    new ClusterFormationError(0, Array.isArray(w.missing) ? (w.missing as GroupId[]) : []),
  FLOTILLA_PROTOCOL: () => new ProtocolError(''),
  FLOTILLA_INVALID_GROUP: (w) => new InvalidGroupError(str(w, 'group'), ''),
  FLOTILLA_SCHEMA: (w) => new SchemaError(str(w, 'kind'), str(w, 'operation'), str(w, 'path'), ''),
  FLOTILLA_UNKNOWN_OPERATION: (w) => new UnknownOperationError(str(w, 'kind'), str(w, 'operation'), []),
  FLOTILLA_UNKNOWN_KIND: (w) => new UnknownKindError(str(w, 'kind'), str(w, 'group')),
  FLOTILLA_UNKNOWN_ENTITY: (w) => new UnknownEntityError(str(w, 'entity')),
  FLOTILLA_WRONG_KIND: (w) => new WrongKindError(str(w, 'group'), str(w, 'expected'), str(w, 'actual')),
  FLOTILLA_UNKNOWN_SHARDS: (w) => new UnknownShardsError(str(w, 'shards'), ''),
  FLOTILLA_APPLICATION: (w) =>
    new ApplicationError(
      { group: str(w, 'group'), kind: str(w, 'kind'), operation: str(w, 'operation') },
      str(w, 'reason'),
      '',
      w.details,
    ),
  FLOTILLA_STALE_FENCE: (w) =>
    new StaleFenceError(
      str(w, 'group'),
      str(w, 'fenceGroup') ? { group: str(w, 'fenceGroup'), term: num(w, 'fenceTerm') } : undefined,
      num(w, 'currentTerm'),
    ),
  FLOTILLA_STALE_SESSION: (w) =>
    new StaleSessionError(str(w, 'group'), str(w, 'clientId'), num(w, 'sequence')),
  FLOTILLA_PAYLOAD_TOO_LARGE: (w) =>
    new PayloadTooLargeError(str(w, 'what'), num(w, 'bytes'), num(w, 'bytesMax')),
  FLOTILLA_UNAUTHENTICATED: (w) => new UnauthenticatedError(str(w, 'address')),
  FLOTILLA_FORBIDDEN: (w) => new ForbiddenError(str(w, 'op'), str(w, 'role'), str(w, 'required')),
  FLOTILLA_WATCH_COMPACTED: (w) =>
    new WatchCompactedError(str(w, 'group'), num(w, 'revision'), num(w, 'oldestRevision')),
  FLOTILLA_WATCH_FUTURE_REVISION: (w) =>
    new WatchFutureRevisionError(str(w, 'group'), num(w, 'revision'), num(w, 'appliedIndex')),
  FLOTILLA_WATCH_OVERFLOW: (w) =>
    new WatchOverflowError(str(w, 'group'), num(w, 'resumeFrom'), num(w, 'bufferedBytes')),
};

/** Fields of an error that travel: its own enumerable properties that are plain data. */
function fieldsOf(error: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key === 'code' || key === 'message' || key === 'name' || key === 'stack' || key === 'cause') continue;
    if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') continue;
    fields[key] = value;
  }
  return fields;
}

/** Any thrown value as a wire error; errors that are not Flotilla's become `FLOTILLA_INTERNAL`. */
export function toWireError(error: unknown): WireError {
  if (error instanceof FlotillaError) return { ...fieldsOf(error), code: error.code, message: error.message };
  if (error instanceof Error) return { code: 'FLOTILLA_INTERNAL', message: error.message };
  return { code: 'FLOTILLA_INTERNAL', message: String(error) };
}

/**
 * A wire error as the typed error it was, with the original message (not wrapped a second time).
 * Unknown codes become a plain `FlotillaError` that keeps the code.
 */
export function fromWireError(w: WireError): FlotillaError {
  const rebuild = REGISTRY[w.code];
  const code = w.code.startsWith('FLOTILLA_') ? (w.code as `FLOTILLA_${string}`) : 'FLOTILLA_INTERNAL';
  const error = rebuild ? rebuild(w) : new FlotillaError(code, w.message);
  Object.defineProperty(error, 'message', { value: String(w.message), writable: true, configurable: true });
  return error;
}

/** True for something shaped like a wire error (after decoding untrusted bytes). */
export function isWireError(value: unknown): value is WireError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as WireError).code === 'string' &&
    typeof (value as WireError).message === 'string'
  );
}

/**
 * Errors after which a request may be sent again (elsewhere or later) without risk of applying it twice:
 * the request was refused before anything was proposed, or it carries a session (`withSession`).
 */
export function isRetryable(error: unknown, withSession: boolean): boolean {
  if (!(error instanceof FlotillaError)) return false;
  switch (error.code) {
    case 'FLOTILLA_NOT_LEADER':
    case 'FLOTILLA_PROPOSAL_DROPPED':
    case 'FLOTILLA_TOO_MANY_UNCOMMITTED':
    case 'FLOTILLA_PEER_UNREACHABLE':
    case 'FLOTILLA_NODE_STOPPED':
    case 'FLOTILLA_UNKNOWN_KIND':
      return true;
    case 'FLOTILLA_TIMEOUT':
      return withSession;
    default:
      return false;
  }
}
