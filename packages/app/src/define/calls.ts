/**
 * How a command or query travels: `[name, input]` in msgpack, validated against the machine's schema by the
 * caller and again by the node that receives it (a caller in another language or version may not have).
 * What is proposed is the validated input re-encoded, so defaults and transforms apply once.
 */
import { Packr } from 'msgpackr';
import { PayloadTooLargeError, ProtocolError, UnknownOperationError } from '../errors.ts';
import { type AnyMachine, operationOf } from './machine.ts';
import { parseWith } from './schema.ts';

const packr = new Packr({ useRecords: false });

/** Bound on an encoded command or query (its name and input). */
export const CALL_BYTES_MAX = 1 << 20;

export type OperationType = 'command' | 'query';

/** A call checked against its machine: the operation, its parsed input, and the bytes to send. */
export interface CheckedCall {
  readonly name: string;
  readonly input: unknown;
  readonly payload: Uint8Array;
}

function operation(machine: AnyMachine, type: OperationType, name: string) {
  const op = operationOf(machine, type, name);
  if (op === undefined) {
    const known = Object.keys(type === 'command' ? machine.commands : machine.queries);
    throw new UnknownOperationError(machine.name, name, known);
  }
  return op;
}

/** Encodes an already validated call `[name, input]`, bounded by `bytesMax`. */
export function packCall(what: string, name: string, input: unknown, bytesMax = CALL_BYTES_MAX): Uint8Array {
  const payload = packr.pack([name, input]);
  if (payload.length > bytesMax) throw new PayloadTooLargeError(what, payload.length, bytesMax);
  return payload;
}

/** Validates `input` for `machine`'s `name` and encodes the call (`SchemaError` names the failing field). */
export function encodeCall(
  machine: AnyMachine,
  type: OperationType,
  name: string,
  input: unknown,
  bytesMax = CALL_BYTES_MAX,
): CheckedCall {
  const parsed = parseWith(operation(machine, type, name).input, input, machine.name, name);
  const payload = packr.pack([name, parsed]);
  if (payload.length > bytesMax)
    throw new PayloadTooLargeError(`${machine.name}.${name}`, payload.length, bytesMax);
  return { name, input: parsed, payload };
}

/** Decodes a call's bytes into `[name, input]` without knowing the machine; shape errors are `ProtocolError`. */
export function decodeCall(payload: Uint8Array): readonly [name: string, input: unknown] {
  let value: unknown;
  try {
    value = packr.unpack(payload);
  } catch (error) {
    throw new ProtocolError(`undecodable call (${(error as Error).message})`);
  }
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string')
    throw new ProtocolError('a call is [name, input]');
  return [value[0], value[1]];
}

/** Decodes and validates received call bytes for `machine`; returns what to propose or run. */
export function checkCall(
  machine: AnyMachine,
  type: OperationType,
  payload: Uint8Array,
  bytesMax = CALL_BYTES_MAX,
): CheckedCall {
  if (payload.length > bytesMax)
    throw new PayloadTooLargeError(`${machine.name} ${type}`, payload.length, bytesMax);
  const [name, input] = decodeCall(payload);
  return encodeCall(machine, type, name, input, bytesMax);
}

/** Encodes a value the way results and store values travel (msgpack, same options as calls). */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeValue(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
