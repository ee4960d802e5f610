/**
 * The client side of the linearizability test: sequential clients doing random puts, deletes and reads on a
 * few keys, each call recorded (invoke, complete, what it saw) with outcomes classified as in history.ts.
 * Every put writes a value unique in the whole run, so each read tells which write it saw.
 */
import { type FlotillaClient, Kv, type KvWriteResult } from '@flotilla/client';
import type { HistoryRecorder, PendingOp } from './history.ts';

export interface WorkloadOptions {
  readonly keys: readonly string[];
  /** Share of calls that are reads; of the rest, `deleteRatio` are deletes and the others puts. */
  readonly readRatio: number;
  /** Share of reads sent with 'lease' consistency (the others are 'linearizable'). */
  readonly leaseRatio: number;
  readonly deleteRatio: number;
  /** Seeded randomness (keys and kinds of calls), shared by all clients. */
  readonly random: () => number;
}

export interface ClientStats {
  ok: number;
  failed: number;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown error';
}

/** A write's result: applied, with what it overwrote (a refusal or an unknown outcome throws). */
function completeWrite(pending: PendingOp, result: KvWriteResult): boolean {
  pending.ok(result.previous);
  return true;
}

async function oneCall(
  client: FlotillaClient,
  id: number,
  n: number,
  recorder: HistoryRecorder,
  options: WorkloadOptions,
): Promise<boolean> {
  const random = options.random;
  const key = options.keys[Math.floor(random() * options.keys.length)]!;
  const r = random();
  if (r < options.readRatio) {
    const consistency = random() < options.leaseRatio ? 'lease' : 'linearizable';
    const pending = recorder.invoke(id, { op: 'get', key }, consistency);
    try {
      const read = await new Kv(client).get(key, consistency);
      pending.ok(read.value);
      return true;
    } catch (error) {
      pending.failed(errorCode(error));
      return false;
    }
  }
  const del = r < options.readRatio + (1 - options.readRatio) * options.deleteRatio;
  const value = `c${id}-${n}`;
  const pending = recorder.invoke(id, del ? { op: 'delete', key } : { op: 'put', key, value });
  try {
    const kv = new Kv(client);
    return completeWrite(pending, await (del ? kv.delete(key) : kv.put(key, value)));
  } catch (error) {
    // Whatever the error, an earlier attempt of this call may have been proposed (see history.ts).
    pending.indeterminate(errorCode(error));
    return false;
  }
}

/** Runs one sequential client until `stopped()`; returns how its calls went. */
export async function runClient(
  client: FlotillaClient,
  id: number,
  recorder: HistoryRecorder,
  options: WorkloadOptions,
  stopped: () => boolean,
): Promise<ClientStats> {
  const stats: ClientStats = { ok: 0, failed: 0 };
  for (let n = 0; !stopped(); n++) {
    if (await oneCall(client, id, n, recorder, options)) stats.ok++;
    else stats.failed++;
  }
  return stats;
}
