/**
 * The framework's envelope around every replicated command: the client session (exactly-once), the
 * timestamp the leader stamps at proposal time (so apply reads no clock) and the fencing token of a
 * leader-only actor — then the call itself. No machine decodes or sniffs these; they are fields here.
 *
 *   [version = 1, clientId, sequence, ackedBelow, timestampMs, fenceGroup, fenceTerm, call]  (one msgpack array)
 *
 * `call` is the `[name, input]` array exactly as validated (see @flotilla/app `encodeCall`): the leader
 * appends its bytes after the six header fields without re-encoding it.
 */
import { ProtocolError, type Session } from '@flotilla/app';
import type { GroupId } from '@flotilla/core';
import { assert } from '@flotilla/core';
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false });
const VERSION = 1;
const FIELDS = 8;
/** msgpack fixarray headers: seven fields packed, eight once the call is appended. */
const FIXARRAY_HEAD = 0x97;
const FIXARRAY_WHOLE = 0x98;

/** Operation name of the framework's checkpoint entry (user operations are identifiers: no clash). */
export const CHECKPOINT_OPERATION = '\u0000checkpoint';

export interface Envelope {
  readonly clientId: string;
  readonly sequence: number;
  /** Every sequence of the client below this one has been answered (see `Session`). */
  readonly ackedBelow: number;
  readonly timestampMs: number;
  readonly fence: { readonly group: GroupId; readonly term: number } | undefined;
  readonly name: string;
  readonly input: unknown;
}

/** Builds the entry data on the leader. `call` is an encoded `[name, input]` array. */
export function encodeEnvelope(options: {
  readonly session: Session | undefined;
  readonly timestampMs: number;
  readonly fence: { readonly group: GroupId; readonly term: number } | undefined;
  readonly call: Uint8Array;
}): Uint8Array {
  const { session, fence, call } = options;
  const head = packr.pack([
    VERSION,
    session?.clientId ?? '',
    session?.sequence ?? 0,
    session?.ackedBelow ?? 0,
    options.timestampMs,
    fence?.group ?? '',
    fence?.term ?? 0,
  ]);
  assert(head[0] === FIXARRAY_HEAD, 'envelope header is a fixarray of seven');
  const data = new Uint8Array(head.length + call.length);
  data.set(head, 0);
  data[0] = FIXARRAY_WHOLE;
  data.set(call, head.length);
  return data;
}

/** Reads an entry's envelope; a malformed one is a `ProtocolError` (recorded as that command's outcome). */
export function decodeEnvelope(data: Uint8Array): Envelope {
  let t: unknown;
  try {
    t = packr.unpack(data);
  } catch (error) {
    throw new ProtocolError(`undecodable command envelope (${(error as Error).message})`);
  }
  if (!Array.isArray(t) || t.length !== FIELDS || t[0] !== VERSION)
    throw new ProtocolError(`a command envelope is a version-${VERSION} tuple of ${FIELDS}`);
  const [, clientId, sequence, ackedBelow, timestampMs, fenceGroup, fenceTerm, call] = t as unknown[];
  if (
    typeof clientId !== 'string' ||
    !isUint(sequence) ||
    !isUint(ackedBelow) ||
    typeof timestampMs !== 'number'
  )
    throw new ProtocolError('command envelope session or timestamp has a bad type');
  if (typeof fenceGroup !== 'string' || !isUint(fenceTerm))
    throw new ProtocolError('command envelope fence has a bad type');
  if (!Array.isArray(call) || call.length !== 2 || typeof call[0] !== 'string')
    throw new ProtocolError('command envelope call is not [name, input]');
  return {
    clientId,
    sequence,
    ackedBelow,
    timestampMs,
    fence: fenceGroup === '' ? undefined : { group: fenceGroup, term: fenceTerm },
    name: call[0],
    input: call[1],
  };
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The encoded call of a checkpoint: `[CHECKPOINT_OPERATION, [index, hash]]`. */
export function encodeCheckpointCall(index: number, hash: string): Uint8Array {
  return packr.pack([CHECKPOINT_OPERATION, [index, hash]]);
}
