/**
 * The keys each table of a node's TOML may hold: anything else is refused with the key it probably meant (a
 * misspelt key would otherwise be ignored in silence).
 */
import { InvalidConfigError } from '@flotilla/core';

type Table = Record<string, unknown>;

/** Every key each table may hold: anything else is refused (a misspelt key would be silently ignored). */
export const KNOWN_KEYS = {
  '': [
    'node',
    'cluster',
    'app',
    'layout',
    'sharding',
    'machines',
    'raft',
    'hosts',
    'storage',
    'watch',
    'security',
    'testing',
  ],
  node: ['id', 'data_dir', 'rpc', 'api', 'admin', 'request_timeout_ms', 'log_level', 'shutdown_transfer_ms'],
  cluster: [
    'members',
    'join',
    'peer_wait_retries',
    'peer_wait_backoff_ms',
    'peer_wait_backoff_max_ms',
    'leader_balance_interval_ms',
    'preferred_leaders',
  ],
  member: ['id', 'rpc', 'api'],
  app: ['module', 'export'],
  layout: ['groups', 'shards'],
  layoutGroup: ['id', 'kind'],
  layoutShards: ['prefix', 'count', 'kind'],
  sharding: ['user_shards', 'shared_shards'],
  machines: [
    'sessions_max',
    'session_window',
    'session_idle_ms',
    'checkpoint_entries',
    'state_commit_ms',
    'kv_state',
  ],
  raft: [
    'tick_ms',
    'election_ticks',
    'heartbeat_ticks',
    'pre_vote',
    'check_quorum',
    'read_only',
    'append_bytes_max',
    'inflight_messages_max',
    'uncommitted_bytes_max',
    'quiesce',
    'readies_in_flight',
    'snapshot_entries',
    'compaction_margin_entries',
    'snapshot_bytes_max',
  ],
  hosts: ['threads'],
  storage: ['log', 'wal_sync'],
  watch: ['history_events', 'history_bytes', 'future_wait_ms', 'buffer_bytes'],
  security: ['secret', 'secret_file', 'tls_cert', 'tls_key', 'tls_ca', 'clients'],
  client: ['name', 'token', 'token_file', 'role'],
  testing: ['fault_injection'],
} as const;

/** The sections whose keys are checked as a whole (`layout` is checked entry by entry). */
export const SECTIONS = KNOWN_KEYS[''].filter((s): s is Exclude<typeof s, 'layout'> => s !== 'layout');

/** Edit distance (for suggesting the key a misspelt one meant). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = row;
  }
  return previous[b.length]!;
}

/** Refuses a key `t` (named `where`) may not hold, suggesting the closest known one. */
export function checkKeys(t: Table, where: string, known: readonly string[]): void {
  for (const key of Object.keys(t)) {
    if (known.includes(key)) continue;
    const closest = [...known].sort((a, b) => distance(key, a) - distance(key, b))[0];
    const hint =
      closest !== undefined && distance(key, closest) <= Math.max(2, Math.floor(closest.length / 3))
        ? `; did you mean ${closest}?`
        : `; known keys: ${known.join(', ')}`;
    throw new InvalidConfigError(where === '' ? key : `${where}.${key}`, `is not a known key${hint}`);
  }
}
