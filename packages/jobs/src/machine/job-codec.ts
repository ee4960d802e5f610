/**
 * How a job record is stored: a msgpack array in a fixed field order, not an object — the record is read and
 * written at every transition of every job on every replica, and field names were most of its bytes and of
 * the encoding work. Append new fields at the end (records written earlier decode with them undefined).
 */
import type { JobRecord } from '../model.ts';

const FIELDS = [
  'id',
  'queue',
  'name',
  'payload',
  'state',
  'priority',
  'tenant',
  'seq',
  'stateSeq',
  'createdAt',
  'runAt',
  'attempts',
  'attemptsMade',
  'backoff',
  'timeoutMs',
  'orphans',
  'dedupeKey',
  'parentId',
  'failParentOnFailure',
  'childrenLeft',
  'scheduleId',
  'claim',
  'lastToken',
  'lastWorker',
  'startedAt',
  'firstStartedAt',
  'progress',
  'result',
  'errors',
  'finishedAt',
  'cancelRequested',
] as const satisfies readonly (keyof JobRecord)[];

export function encodeJob(job: JobRecord): unknown[] {
  const out = new Array<unknown>(FIELDS.length);
  for (let i = 0; i < FIELDS.length; i++) out[i] = job[FIELDS[i]!];
  return out;
}

export function decodeJob(fields: readonly unknown[]): JobRecord {
  const job: Record<string, unknown> = {};
  for (let i = 0; i < FIELDS.length; i++) {
    const value = fields[i];
    if (value !== undefined) job[FIELDS[i]!] = value;
  }
  return job as unknown as JobRecord;
}
