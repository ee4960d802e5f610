/**
 * Adding and removing nodes (thesis §4.2.1: new servers join as learners and catch up before they vote):
 * validate, record the node in the catalog (so every node links to it), add it as a learner to every group,
 * wait until it has caught up, then promote it. Removal is the reverse.
 */
import { InvalidNodeError, RequestTimeoutError, sleep } from '@flotilla/app';
import type { GroupId, NodeId, Status } from '@flotilla/core';
import type { Executor } from '../execution/executor.ts';
import { checkAddress } from '../operations/config.ts';
import { CATALOG_GROUP, type CatalogNode, type CatalogState } from './catalog.ts';

export interface MembershipContext {
  readonly selfId: NodeId;
  readonly catalog: () => CatalogState;
  readonly executor: Executor;
  addToCatalog(node: CatalogNode): Promise<unknown>;
  removeFromCatalog(id: NodeId): Promise<unknown>;
}

export interface MembershipStatus {
  readonly nodeId: NodeId;
  readonly groups: number;
  readonly durationMs: number;
}

/** Groups changed concurrently; bounded so a large layout does not flood the leaders. */
const GROUPS_IN_PARALLEL_MAX = 8;

export function validateNewNode(catalog: CatalogState, node: CatalogNode): void {
  if (!Number.isSafeInteger(node.id) || node.id <= 0)
    throw new InvalidNodeError(node.id, 'bad-id', 'the node id must be an integer > 0');
  if (typeof node.rpc !== 'string' || node.rpc.trim() === '') {
    throw new InvalidNodeError(node.id, 'missing-rpc-address', 'the RPC (peer) address is empty');
  }
  if (typeof node.api !== 'string' || node.api.trim() === '') {
    throw new InvalidNodeError(node.id, 'missing-api-address', 'the API (client) address is empty');
  }
  try {
    checkAddress('rpc', node.rpc);
    checkAddress('api', node.api);
  } catch (error) {
    const reason = String((error as Error).message).includes('rpc')
      ? 'missing-rpc-address'
      : 'missing-api-address';
    throw new InvalidNodeError(node.id, reason, (error as Error).message);
  }
  if (catalog.nodes.has(node.id))
    throw new InvalidNodeError(node.id, 'already-member', 'the node is already a member');
  for (const member of catalog.nodes.values())
    for (const [what, address] of [
      ['rpc', node.rpc],
      ['api', node.api],
    ] as const)
      if (address === member.rpc || address === member.api)
        throw new InvalidNodeError(
          node.id,
          'address-in-use',
          `its ${what} address ${address} is node ${member.id}'s (a node added there would never answer as itself)`,
        );
}

export async function addNodeToCluster(
  ctx: MembershipContext,
  node: CatalogNode,
  timeoutMs: number,
): Promise<MembershipStatus> {
  validateNewNode(ctx.catalog(), node);
  const started = performance.now();
  const deadline = started + timeoutMs;
  await ctx.addToCatalog(node);
  const groups = orderedGroups(ctx);
  await inParallel(groups, async (group) => {
    await ctx.executor.changeMembership(
      group,
      { changes: [{ op: 'addLearner', nodeId: node.id }] },
      remaining(deadline),
    );
    await waitCaughtUp(ctx, group, node.id, deadline);
    await ctx.executor.changeMembership(
      group,
      { changes: [{ op: 'addVoter', nodeId: node.id }] },
      remaining(deadline),
    );
  });
  return { nodeId: node.id, groups: groups.length, durationMs: Math.round(performance.now() - started) };
}

export async function removeNodeFromCluster(
  ctx: MembershipContext,
  id: NodeId,
  timeoutMs: number,
): Promise<MembershipStatus> {
  if (!ctx.catalog().nodes.has(id)) throw new InvalidNodeError(id, 'not-member', 'the node is not a member');
  // Once the others apply the removal they refuse this node's links, so the last acknowledgement (and any
  // retry of it) could never reach it: the request must run on a member that stays.
  if (id === ctx.selfId)
    throw new InvalidNodeError(
      id,
      'self-removal',
      'a node cannot remove itself; send the request to another member',
    );
  const started = performance.now();
  const deadline = started + timeoutMs;
  const groups = orderedGroups(ctx).reverse(); // the catalog group last: the node keeps learning until the end
  await inParallel(groups, (group) =>
    ctx.executor.changeMembership(
      group,
      { changes: [{ op: 'removeNode', nodeId: id }] },
      remaining(deadline),
    ),
  );
  await ctx.removeFromCatalog(id);
  return { nodeId: id, groups: groups.length, durationMs: Math.round(performance.now() - started) };
}

function orderedGroups(ctx: MembershipContext): GroupId[] {
  return [CATALOG_GROUP, ...[...ctx.catalog().groups.keys()].filter((g) => g !== CATALOG_GROUP).sort()];
}

function remaining(deadline: number): { timeoutMs: number } {
  return { timeoutMs: Math.max(1, Math.round(deadline - performance.now())) };
}

/** A learner has caught up when the leader sees it matching the commit index it had when we asked. */
async function waitCaughtUp(
  ctx: MembershipContext,
  group: GroupId,
  id: NodeId,
  deadline: number,
): Promise<void> {
  let target: number | undefined;
  while (performance.now() < deadline) {
    const status = (await ctx.executor.leaderStatus(group, remaining(deadline))) as Status;
    target ??= status.commitIndex;
    const progress = status.progress.find((p) => p.id === id);
    if (progress && progress.matchIndex >= target) return;
    await sleep(20);
  }
  throw new RequestTimeoutError(group, 0, `node ${id} did not catch up`);
}

async function inParallel<T>(items: readonly T[], run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(GROUPS_IN_PARALLEL_MAX, items.length) }, async () => {
    while (next < items.length) await run(items[next++]!);
  });
  await Promise.all(workers);
}
