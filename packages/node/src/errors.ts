/**
 * Expected failures of the node layer, each with a stable `code` and the context a caller needs.
 * Raft-level errors (`NotLeaderError`, `ProposalDroppedError`, …) come from @flotilla/core.
 */
import { FlotillaError, type GroupId, type NodeId } from '@flotilla/core';

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
  constructor(nodeId: NodeId) {
    super('FLOTILLA_NODE_STOPPED', `node ${nodeId} is not running`);
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

/** A client request or response that does not have the expected shape. */
export class ProtocolError extends FlotillaError {
  constructor(detail: string) {
    super('FLOTILLA_PROTOCOL', `protocol error: ${detail}`);
  }
}

/** A group id that cannot be created (empty, too long, reserved characters) or a kind that does not exist. */
export class InvalidGroupError extends FlotillaError {
  readonly group: GroupId;
  constructor(group: GroupId, problem: string) {
    super('FLOTILLA_INVALID_GROUP', `group ${JSON.stringify(group)}: ${problem}`);
    this.group = group;
  }
}
