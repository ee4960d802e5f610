/**
 * Calls from the admin dashboard (`POST /call`): a command or query of a registered kind, named by strings,
 * its input checked against the kind's schema, run through the node's executor under one session of the
 * admin's own (exactly once, like any client's commands). The request's shape is checked here; a bad field
 * is a `SchemaError` naming it.
 */
import {
  type AnyMachine,
  type CallPort,
  Calls,
  SchemaError,
  type Target,
  UnknownKindError,
  z,
} from '@flotilla/app';
import { assertNever } from '@flotilla/core';
import type { Registry } from '../machines/registry.ts';

const name = z.string().min(1).max(100);

const ADMIN_CALL = z.object({
  kind: name,
  target: z.union([name, z.object({ key: z.string().max(1_000), shards: name.optional() })]),
  type: z.enum(['command', 'query']),
  name,
  input: z.unknown(),
  consistency: z.enum(['linearizable', 'lease', 'stale']).optional(),
});

export type AdminCall = z.output<typeof ADMIN_CALL>;

/** The body of `POST /call` as a call, or a `SchemaError` naming the first bad field. */
export function parseAdminCall(body: unknown): AdminCall {
  const parsed = ADMIN_CALL.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new SchemaError('admin', 'call', issue?.path.join('.') ?? '', issue?.message ?? 'malformed');
}

/** Runs dashboard calls on `port` (the node's executor) for the kinds of `registry`. */
export function adminCalls(registry: Registry, port: CallPort): (call: AdminCall) => Promise<unknown> {
  const calls = new Calls(port);
  return async (call) => {
    const machine: AnyMachine | undefined = registry.machine(call.kind);
    if (machine === undefined) throw new UnknownKindError(call.kind);
    const target = targetOf(call.target);
    switch (call.type) {
      case 'command':
        return calls.execute(machine, target, call.name as never, call.input as never);
      case 'query':
        return calls.query(machine, target, call.name as never, call.input as never, {
          consistency: call.consistency ?? 'linearizable',
        });
      default:
        return assertNever(call.type);
    }
  };
}

function targetOf(target: AdminCall['target']): Target {
  if (typeof target === 'string') return target;
  return target.shards === undefined ? { key: target.key } : { key: target.key, shards: target.shards };
}
