/**
 * Membership change arithmetic (thesis §4.1 single-server, §4.3 joint consensus), modelled on etcd's
 * confchange.Changer: computes the next configuration from the current one and a change, validating it.
 * It never mutates its input; the caller installs the result.
 */
import { InvalidConfChangeError } from './errors.ts';
import { isJoint, type TrackerConfig } from './tracker.ts';
import type { ConfChange, ConfChangeItem, ConfState, NodeId } from './types.ts';

interface MutableConfig {
  incoming: Set<NodeId>;
  outgoing: Set<NodeId>;
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
}

function copy(config: TrackerConfig): MutableConfig {
  return {
    incoming: new Set(config.voters.incoming),
    outgoing: new Set(config.voters.outgoing),
    learners: new Set(config.learners),
    learnersNext: new Set(config.learnersNext),
    autoLeave: config.autoLeave,
  };
}

function freeze(c: MutableConfig): TrackerConfig {
  return {
    voters: { incoming: c.incoming, outgoing: c.outgoing },
    learners: c.learners,
    learnersNext: c.learnersNext,
    autoLeave: c.autoLeave,
  };
}

function applyItem(c: MutableConfig, item: ConfChangeItem): void {
  const id = item.nodeId;
  switch (item.op) {
    case 'addVoter':
      c.learners.delete(id);
      c.learnersNext.delete(id);
      c.incoming.add(id);
      return;
    case 'addLearner':
      if (c.learners.has(id)) return;
      c.incoming.delete(id);
      c.learnersNext.delete(id);
      // A node cannot be a learner and a voter at once: an outgoing voter becomes a learner on leaving.
      if (c.outgoing.has(id)) c.learnersNext.add(id);
      else c.learners.add(id);
      return;
    case 'removeNode':
      c.incoming.delete(id);
      c.learners.delete(id);
      c.learnersNext.delete(id);
      return;
  }
}

function applyItems(c: MutableConfig, items: readonly ConfChangeItem[]): void {
  for (const item of items) {
    if (!Number.isSafeInteger(item.nodeId) || item.nodeId <= 0) {
      throw new InvalidConfChangeError(`node id ${item.nodeId} is not a positive integer`);
    }
    applyItem(c, item);
  }
  if (c.incoming.size === 0) throw new InvalidConfChangeError('the change removes every voter');
}

/** Number of nodes whose voter status differs between two voter sets. */
function votersChanged(a: ReadonlySet<NodeId>, b: ReadonlySet<NodeId>): number {
  let n = 0;
  for (const id of a) if (!b.has(id)) n++;
  for (const id of b) if (!a.has(id)) n++;
  return n;
}

/** A change of at most one voter, applied directly (thesis §4.1). */
export function simpleChange(config: TrackerConfig, items: readonly ConfChangeItem[]): TrackerConfig {
  if (isJoint(config))
    throw new InvalidConfChangeError('cannot apply a simple change in a joint configuration');
  const next = copy(config);
  applyItems(next, items);
  if (votersChanged(config.voters.incoming, next.incoming) > 1) {
    throw new InvalidConfChangeError('more than one voter changed; use joint consensus');
  }
  return freeze(next);
}

/** Enters joint consensus: outgoing = current voters, incoming = current voters with the changes applied. */
export function enterJoint(
  config: TrackerConfig,
  autoLeave: boolean,
  items: readonly ConfChangeItem[],
): TrackerConfig {
  if (isJoint(config)) throw new InvalidConfChangeError('already in a joint configuration');
  if (config.voters.incoming.size === 0)
    throw new InvalidConfChangeError('cannot enter joint from an empty configuration');
  const next = copy(config);
  next.outgoing = new Set(config.voters.incoming);
  applyItems(next, items);
  next.autoLeave = autoLeave;
  return freeze(next);
}

/** Leaves joint consensus: the incoming configuration alone remains; pending learners become learners. */
export function leaveJoint(config: TrackerConfig): TrackerConfig {
  if (!isJoint(config)) throw new InvalidConfChangeError('not in a joint configuration');
  const next = copy(config);
  for (const id of next.learnersNext) next.learners.add(id);
  next.learnersNext.clear();
  next.outgoing = new Set();
  next.autoLeave = false;
  return freeze(next);
}

/** Dispatches a `ConfChange` to the right transition (see `ConfChange` in types.ts). */
export function applyConfChange(config: TrackerConfig, cc: ConfChange): TrackerConfig {
  if (cc.changes.length === 0) return leaveJoint(config);
  const transition = cc.transition ?? 'auto';
  if (transition === 'auto' && cc.changes.length === 1) return simpleChange(config, cc.changes);
  return enterJoint(config, transition !== 'joint-explicit', cc.changes);
}

/** Builds a configuration from a stored `ConfState` (restart, snapshot). */
export function configFromConfState(cs: ConfState): TrackerConfig {
  return {
    voters: { incoming: new Set(cs.voters), outgoing: new Set(cs.votersOutgoing) },
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
}
