/**
 * The catalog state machine of `meta:system`: which nodes form the cluster (with their addresses) and which
 * groups exist. Every node reconciles its replicas and peer links from it, so no code path can forget to
 * create a replica: creating a group is a replicated command.
 */
import {
  assert,
  ClientSessions,
  type Command,
  decodeSessionCommand,
  encodeSessionCommand,
  type NodeId,
  type SnapshotMeta,
  type StateMachine,
} from '@flotilla/core';
import { Packr } from 'msgpackr';
import type { CatalogGroup, GroupKind, GroupSpec } from './layout.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });

export interface CatalogNode {
  readonly id: NodeId;
  readonly rpc: string;
  readonly api: string;
}

export type CatalogCommand =
  /** Written by every founder at bootstrap (identical everywhere): the initial nodes and groups. */
  | { readonly op: 'init'; readonly nodes: readonly CatalogNode[]; readonly groups: readonly GroupSpec[] }
  | { readonly op: 'addNode'; readonly node: CatalogNode }
  | { readonly op: 'removeNode'; readonly id: NodeId }
  | { readonly op: 'createGroup'; readonly group: GroupSpec }
  | { readonly op: 'deleteGroup'; readonly id: string };

export type CatalogResult =
  | { readonly ok: true; readonly changed: boolean }
  | { readonly ok: false; readonly error: string };

export function encodeCatalogCommand(
  cmd: CatalogCommand,
  session?: { clientId: string; sequence: number },
): Uint8Array {
  return encodeSessionCommand({
    clientId: session?.clientId ?? '',
    sequence: session?.sequence ?? 0,
    payload: packr.pack(cmd),
  });
}

const GROUP_KINDS: readonly GroupKind[] = ['catalog', 'kv'];

function validNode(value: unknown): CatalogNode | undefined {
  const n = value as Record<string, unknown> | undefined;
  if (!n || !Number.isSafeInteger(n.id) || (n.id as number) <= 0) return undefined;
  if (typeof n.rpc !== 'string' || typeof n.api !== 'string') return undefined;
  return { id: n.id as number, rpc: n.rpc, api: n.api };
}

function validGroup(value: unknown): GroupSpec | undefined {
  const g = value as Record<string, unknown> | undefined;
  if (!g || typeof g.id !== 'string' || g.id.length === 0 || !GROUP_KINDS.includes(g.kind as GroupKind))
    return undefined;
  return { id: g.id, kind: g.kind as GroupKind };
}

function validate(cmd: unknown): CatalogCommand | undefined {
  if (typeof cmd !== 'object' || cmd === null) return undefined;
  const c = cmd as Record<string, unknown>;
  switch (c.op) {
    case 'init': {
      if (!Array.isArray(c.nodes) || !Array.isArray(c.groups)) return undefined;
      const nodes = c.nodes.map(validNode);
      const groups = c.groups.map(validGroup);
      if (nodes.some((n) => !n) || groups.some((g) => !g)) return undefined;
      return { op: 'init', nodes: nodes as CatalogNode[], groups: groups as GroupSpec[] };
    }
    case 'addNode': {
      const node = validNode(c.node);
      return node ? { op: 'addNode', node } : undefined;
    }
    case 'removeNode':
      return Number.isSafeInteger(c.id) ? { op: 'removeNode', id: c.id as number } : undefined;
    case 'createGroup': {
      const group = validGroup(c.group);
      return group ? { op: 'createGroup', group } : undefined;
    }
    case 'deleteGroup':
      return typeof c.id === 'string' ? { op: 'deleteGroup', id: c.id } : undefined;
    default:
      return undefined;
  }
}

export class CatalogStateMachine implements StateMachine<CatalogResult> {
  readonly nodes = new Map<NodeId, CatalogNode>();
  readonly groups = new Map<string, CatalogGroup>();
  private readonly sessions = new ClientSessions<CatalogResult>(1_000);
  private applied = 0;
  /** Called after each change, so the node reconciles replicas and links. */
  onChange: (() => void) | undefined;

  get appliedIndex(): number {
    return this.applied;
  }

  apply(commands: readonly Command[]): CatalogResult[] {
    const results = commands.map((c) => this.applyOne(c));
    if (results.some((r) => r.ok && r.changed)) this.onChange?.();
    return results;
  }

  private applyOne(c: Command): CatalogResult {
    assert(c.index > this.applied, () => `catalog command ${c.index} after ${this.applied}`);
    this.applied = c.index;
    let session: ReturnType<typeof decodeSessionCommand>;
    let cmd: CatalogCommand | undefined;
    try {
      session = decodeSessionCommand(c.data);
      cmd = validate(packr.unpack(session.payload));
    } catch {
      return { ok: false, error: 'bad-command' };
    }
    if (!cmd) return { ok: false, error: 'bad-command' };
    const verdict = this.sessions.check(session.clientId, session.sequence);
    if (verdict.kind === 'duplicate') return verdict.result;
    if (verdict.kind === 'stale') return { ok: false, error: 'stale-session' };
    const result = this.execute(cmd);
    this.sessions.record(session.clientId, session.sequence, result, c.index);
    return result;
  }

  private execute(cmd: CatalogCommand): CatalogResult {
    switch (cmd.op) {
      case 'init': {
        if (this.nodes.size > 0 || this.groups.size > 0) return { ok: true, changed: false };
        for (const n of cmd.nodes) this.nodes.set(n.id, n);
        const founders = cmd.nodes.map((n) => n.id);
        for (const g of cmd.groups) this.groups.set(g.id, { ...g, founders });
        return { ok: true, changed: true };
      }
      case 'addNode': {
        const known = this.nodes.get(cmd.node.id);
        const changed = !known || known.rpc !== cmd.node.rpc || known.api !== cmd.node.api;
        this.nodes.set(cmd.node.id, cmd.node);
        return { ok: true, changed };
      }
      case 'removeNode':
        return { ok: true, changed: this.nodes.delete(cmd.id) };
      case 'createGroup': {
        if (this.groups.has(cmd.group.id)) return { ok: true, changed: false };
        this.groups.set(cmd.group.id, {
          ...cmd.group,
          founders: [...this.nodes.keys()].sort((a, b) => a - b),
        });
        return { ok: true, changed: true };
      }
      case 'deleteGroup':
        if (cmd.id === 'meta:system') return { ok: false, error: 'the catalog group cannot be deleted' };
        return { ok: true, changed: this.groups.delete(cmd.id) };
    }
  }

  advanceAppliedIndex(index: number): void {
    if (index > this.applied) this.applied = index;
  }

  snapshot(): Uint8Array {
    return packr.pack([
      this.applied,
      [...this.nodes.values()],
      [...this.groups.values()],
      this.sessions.toSnapshot(),
    ]);
  }

  restore(data: Uint8Array, meta: SnapshotMeta): void {
    const [applied, nodes, groups, sessions] = packr.unpack(data) as [
      number,
      CatalogNode[],
      CatalogGroup[],
      [string, number, [number, CatalogResult][], number][],
    ];
    assert(
      applied === meta.index,
      () => `catalog snapshot at ${applied} does not match its meta at ${meta.index}`,
    );
    this.nodes.clear();
    for (const n of nodes) this.nodes.set(n.id, n);
    this.groups.clear();
    for (const g of groups) this.groups.set(g.id, g);
    this.sessions.restore(sessions);
    this.applied = applied;
    this.onChange?.();
  }
}
