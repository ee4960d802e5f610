/**
 * Node configuration from TOML: `[node]`, `[cluster]` (absent = standalone), `[app]`, `[layout]` (or the
 * `[sharding]` shortcut), `[machines]`, `[raft]`, `[hosts]`, `[storage]`, `[watch]` and `[security]`. Validated at
 * start; every error is an `InvalidConfigError` naming the key.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { KIND_NAME } from '@flotilla/app';
import { InvalidConfigError, type NodeId } from '@flotilla/core';
import { parse } from 'smol-toml';
import { defaultLayout, type Layout } from '../cluster/layout.ts';
import type { AppRef, KvState } from '../machines/registry.ts';
import { SESSION_DEFAULTS } from '../machines/sessions.ts';
import type { MachineSettings } from '../replicas/replica-actor.ts';
import { WATCH_DEFAULTS } from '../watch/hub.ts';
import { checkKeys, KNOWN_KEYS, SECTIONS } from './config-keys.ts';

export interface MemberConfig {
  readonly id: NodeId;
  /** host:port of the member's peer (Raft) listener. */
  readonly rpc: string;
  /** host:port of the member's client API listener. */
  readonly api: string;
}

export interface RaftSettings {
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly readOnly: 'safe' | 'lease';
  readonly appendBytesMax: number;
  readonly inflightMessagesMax: number;
  readonly uncommittedBytesMax: number;
  /** Idle groups stop heartbeating and ticking until something happens. */
  readonly quiesce: boolean;
  /** Readies a replica may persist at once (core `readiesInFlightMax`: etcd's asynchronous storage writes). */
  readonly readiesInFlight: number;
  /** Take a snapshot (and compact) after this many applied entries. */
  readonly snapshotEntries: number;
  /** Entries kept behind a snapshot so that slightly lagging followers catch up without one. */
  readonly compactionMarginEntries: number;
  /** Bound on a snapshot received from a leader. */
  readonly snapshotBytesMax: number;
}

export interface ClusterSettings {
  readonly members: readonly MemberConfig[];
  /** True when this node starts empty and waits to be added by `addNode` (it bootstraps nothing). */
  readonly join: boolean;
  readonly peerWaitRetries: number;
  readonly peerWaitBackoffMs: number;
  readonly peerWaitBackoffMaxMs: number;
  /** Period of leader balancing rounds (`leader-balancer.ts`); 0 turns balancing off. */
  readonly leaderBalanceIntervalMs: number;
  /**
   * Leader preferences (CockroachDB's lease preferences): each group's leadership goes to the first node of
   * this list that is a caught-up voter; empty = spread leaders evenly. One host running every node does
   * best with one preferred leader (its writes batch into the fewest frames and fsyncs).
   */
  readonly preferredLeaders: readonly NodeId[];
}

export interface NodeConfig {
  readonly node: {
    readonly id: NodeId;
    readonly dataDir: string;
    readonly rpc: string;
    readonly api: string;
    /** host:port of the admin HTTP listener (/metrics, /status, dashboard); loopback by default. */
    readonly admin: string;
    readonly requestTimeoutMs: number;
    readonly logLevel: string;
    /** A stopping node hands its leaderships over for at most this long (then says which it kept). */
    readonly shutdownTransferMs: number;
  };
  readonly cluster: ClusterSettings | undefined;
  /** The application module the node loads (machine kinds, entities, actors); none = built-ins only. */
  readonly app: AppRef | undefined;
  /** The groups and shard sets a new cluster starts with (besides the catalog and the application's). */
  readonly layout: Layout;
  /** Sessions and divergence checks of every machine. */
  readonly machines: MachineSettings;
  readonly raft: RaftSettings;
  /** Host threads for the Raft group actors (0 = the main thread). */
  readonly hosts: { readonly threads: number };
  /**
   * Where Raft logs and hard states live: `wal` (default) — a single-fsync write-ahead log, written by the main
   * thread, so it needs `hosts.threads = 0`; `lmdb` — the LMDB environment, usable from any host thread.
   */
  readonly storage: {
    readonly log: 'wal' | 'lmdb';
    /** How the WAL makes a batch durable: one O_DSYNC write (`dsync`, default) or write + `fdatasync`. */
    readonly walSync: 'dsync' | 'fdatasync';
  };
  /** Watches: the history each group keeps for watches from the past, and flow control per connection. */
  readonly watch: {
    readonly historyEvents: number;
    readonly historyBytes: number;
    readonly futureWaitMs: number;
    /** A connection with more than this many bytes unsent has its watches cancelled (`WatchOverflowError`). */
    readonly bufferBytesMax: number;
  };
  /** Test-only switches (fault injection through the API); all off by default. */
  readonly testing: { readonly faultInjection: boolean };
  readonly security: {
    readonly secret: string;
    /**
     * Who may use the client API, each with a token and a role (`read` < `write` < `admin`). None: the API
     * listens on loopback only and every connection may do everything.
     */
    readonly clients: readonly ApiClientConfig[];
    readonly tls: { readonly cert: string; readonly key: string; readonly ca: string } | undefined;
  };
}

/** A client of the API: its name (for logs), its token, and what it may do. */
export interface ApiClientConfig {
  readonly name: string;
  readonly token: string;
  readonly role: ApiRole;
}

export const API_ROLES = ['read', 'write', 'admin'] as const;
export type ApiRole = (typeof API_ROLES)[number];
/** Shortest client token accepted (a guessable token is no credential). */
export const CLIENT_TOKEN_CHARS_MIN = 16;

type Table = Record<string, unknown>;

/** pino's levels. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function table(root: Table, key: string): Table {
  const value = root[key];
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidConfigError(key, 'must be a table');
  return value as Table;
}

function int(
  t: Table,
  section: string,
  key: string,
  fallback: number | undefined,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const value = t[key] ?? fallback;
  const name = `${section}.${key}`;
  if (value === undefined) throw new InvalidConfigError(name, 'is required');
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new InvalidConfigError(name, `must be an integer, got ${JSON.stringify(value)}`);
  if (value < min || value > max)
    throw new InvalidConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function str(t: Table, section: string, key: string, fallback?: string): string {
  const value = t[key] ?? fallback;
  const name = `${section}.${key}`;
  if (value === undefined) throw new InvalidConfigError(name, 'is required');
  if (typeof value !== 'string' || value.length === 0)
    throw new InvalidConfigError(name, 'must be a non-empty string');
  return value;
}

function bool(t: Table, section: string, key: string, fallback: boolean): boolean {
  const value = t[key] ?? fallback;
  if (typeof value !== 'boolean') throw new InvalidConfigError(`${section}.${key}`, 'must be true or false');
  return value;
}

/** A list of distinct node ids (empty when absent). */
function nodeIds(t: Table, section: string, key: string): NodeId[] {
  const value = t[key] ?? [];
  const name = `${section}.${key}`;
  if (!Array.isArray(value)) throw new InvalidConfigError(name, 'must be a list of node ids');
  for (const v of value)
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
      throw new InvalidConfigError(name, `must list node ids (integers > 0), got ${JSON.stringify(v)}`);
  if (new Set(value).size !== value.length) throw new InvalidConfigError(name, 'lists a node twice');
  return value as NodeId[];
}

/** Checks a `host:port` address. */
export function checkAddress(name: string, value: string): string {
  const at = value.lastIndexOf(':');
  const port = Number(value.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidConfigError(name, `must be host:port, got ${JSON.stringify(value)}`);
  }
  return value;
}

function members(t: Table): MemberConfig[] {
  const raw = t.members;
  if (!Array.isArray(raw) || raw.length === 0)
    throw new InvalidConfigError('cluster.members', 'must list at least one member');
  const seen = new Set<number>();
  const addresses = new Map<string, string>();
  return raw.map((m, i) => {
    const name = `cluster.members[${i}]`;
    if (typeof m !== 'object' || m === null)
      throw new InvalidConfigError(name, 'must be a table { id, rpc, api }');
    const mt = m as Table;
    checkKeys(mt, name, KNOWN_KEYS.member);
    const id = int(mt, name, 'id', undefined, 1);
    if (seen.has(id)) throw new InvalidConfigError(`${name}.id`, `duplicate member id ${id}`);
    seen.add(id);
    const rpc = checkAddress(`${name}.rpc`, str(mt, name, 'rpc'));
    const api = checkAddress(`${name}.api`, str(mt, name, 'api'));
    for (const [what, address] of [
      ['rpc', rpc],
      ['api', api],
    ] as const) {
      if (addresses.has(address))
        throw new InvalidConfigError(`${name}.${what}`, `${address} is already ${addresses.get(address)}`);
      addresses.set(address, `the address of ${name}.${what}`);
    }
    return { id, rpc, api };
  });
}

function raftSettings(t: Table): RaftSettings {
  const s = 'raft';
  const electionTicks = int(t, s, 'election_ticks', 20, 2, 1000);
  const heartbeatTicks = int(t, s, 'heartbeat_ticks', 2, 1, electionTicks - 1);
  const readOnly = str(t, s, 'read_only', 'safe');
  if (readOnly !== 'safe' && readOnly !== 'lease')
    throw new InvalidConfigError('raft.read_only', "must be 'safe' or 'lease'");
  const checkQuorum = bool(t, s, 'check_quorum', true);
  if (readOnly === 'lease' && !checkQuorum)
    throw new InvalidConfigError('raft.read_only', 'lease reads need raft.check_quorum = true');
  return {
    tickMs: int(t, s, 'tick_ms', 5, 1, 10_000),
    electionTicks,
    heartbeatTicks,
    preVote: bool(t, s, 'pre_vote', true),
    checkQuorum,
    readOnly,
    appendBytesMax: int(t, s, 'append_bytes_max', 1 << 20, 1),
    inflightMessagesMax: int(t, s, 'inflight_messages_max', 256, 1, 1 << 16),
    uncommittedBytesMax: int(t, s, 'uncommitted_bytes_max', 64 << 20, 1),
    quiesce: bool(t, s, 'quiesce', true),
    readiesInFlight: int(t, s, 'readies_in_flight', 4, 1, 64),
    snapshotEntries: int(t, s, 'snapshot_entries', 10_000, 1),
    compactionMarginEntries: int(t, s, 'compaction_margin_entries', 1_000, 0),
    snapshotBytesMax: int(t, s, 'snapshot_bytes_max', 256 << 20, 1),
  };
}

function storageSettings(t: Table, threads: number): NodeConfig['storage'] {
  const walSync = str(t, 'storage', 'wal_sync', 'dsync');
  if (walSync !== 'dsync' && walSync !== 'fdatasync')
    throw new InvalidConfigError('storage.wal_sync', "must be 'dsync' or 'fdatasync'");
  return { log: logEngine(t, threads), walSync };
}

function logEngine(t: Table, threads: number): 'wal' | 'lmdb' {
  const log = str(t, 'storage', 'log', threads === 0 ? 'wal' : 'lmdb');
  if (log !== 'wal' && log !== 'lmdb') throw new InvalidConfigError('storage.log', "must be 'wal' or 'lmdb'");
  if (log === 'wal' && threads > 0) {
    throw new InvalidConfigError(
      'storage.log',
      "the WAL is written by the main thread: use hosts.threads = 0 or storage.log = 'lmdb'",
    );
  }
  return log;
}

function appRef(t: Table, baseDir: string): AppRef | undefined {
  if (t.module === undefined) return undefined;
  const module = str(t, 'app', 'module');
  // A relative path is relative to the config file; absolute paths, URLs and package names stay as given.
  const resolved = module.startsWith('.') && !isAbsolute(module) ? resolve(baseDir, module) : module;
  return { module: resolved, export: str(t, 'app', 'export', 'app') };
}

function kindOf(t: Table, name: string): string {
  const kind = str(t, name, 'kind');
  if (!KIND_NAME.test(kind))
    throw new InvalidConfigError(`${name}.kind`, `must match ${KIND_NAME}, got ${JSON.stringify(kind)}`);
  return kind;
}

/** `[layout]`: `groups = [{ id, kind }]`, `shards = [{ prefix, count, kind }]`; absent: the default layout. */
function layoutOf(doc: Table, sharding: { userShards: number; sharedShards: number }): Layout {
  if (doc.layout === undefined) return defaultLayout(sharding);
  const t = table(doc, 'layout');
  const list = (key: string): Table[] => {
    const value = t[key] ?? [];
    if (!Array.isArray(value)) throw new InvalidConfigError(`layout.${key}`, 'must be a list of tables');
    return value as Table[];
  };
  checkKeys(t, 'layout', KNOWN_KEYS.layout);
  const groups = list('groups').map((g, i) => {
    const name = `layout.groups[${i}]`;
    checkKeys(g, name, KNOWN_KEYS.layoutGroup);
    const id = str(g, name, 'id');
    if (!/^[A-Za-z0-9:_.-]{1,100}$/.test(id))
      throw new InvalidConfigError(`${name}.id`, 'must be 1-100 of A-Z a-z 0-9 : _ . -');
    return { id, kind: kindOf(g, name) };
  });
  const shards = list('shards').map((s, i) => {
    const name = `layout.shards[${i}]`;
    checkKeys(s, name, KNOWN_KEYS.layoutShards);
    return {
      prefix: str(s, name, 'prefix'),
      count: int(s, name, 'count', undefined, 1, 4096),
      kind: kindOf(s, name),
    };
  });
  return { groups, shards };
}

function kvState(t: Table): KvState {
  const value = str(t, 'machines', 'kv_state', 'store');
  if (value !== 'store' && value !== 'memory')
    throw new InvalidConfigError('machines.kv_state', "must be 'store' or 'memory'");
  return value;
}

/** `[[security.clients]]`: `{ name, token | token_file, role }`, names and tokens distinct. */
function apiClients(security: Table, baseDir: string): ApiClientConfig[] {
  const raw = security.clients ?? [];
  if (!Array.isArray(raw)) throw new InvalidConfigError('security.clients', 'must be a list of tables');
  const names = new Set<string>();
  const tokens = new Set<string>();
  return raw.map((entry, i) => {
    const name = `security.clients[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw new InvalidConfigError(name, 'must be a table { name, token | token_file, role }');
    const t = entry as Table;
    checkKeys(t, name, KNOWN_KEYS.client);
    const client = str(t, name, 'name');
    const token =
      t.token_file !== undefined
        ? readFileSync(resolve(baseDir, str(t, name, 'token_file')), 'utf8').trim()
        : str(t, name, 'token');
    if (token.length < CLIENT_TOKEN_CHARS_MIN)
      throw new InvalidConfigError(`${name}.token`, `must be at least ${CLIENT_TOKEN_CHARS_MIN} characters`);
    const role = str(t, name, 'role');
    if (!(API_ROLES as readonly string[]).includes(role))
      throw new InvalidConfigError(`${name}.role`, `must be one of ${API_ROLES.join(', ')}, got ${role}`);
    if (names.has(client)) throw new InvalidConfigError(`${name}.name`, `client ${client} is listed twice`);
    if (tokens.has(token)) throw new InvalidConfigError(`${name}.token`, 'two clients share a token');
    names.add(client);
    tokens.add(token);
    return { name: client, token, role: role as ApiRole };
  });
}

/** Bound on the bytes a client connection may have unsent before its watches are cancelled, by default. */
export const WATCH_BUFFER_BYTES_MAX = 8 << 20;

function logLevel(node: Table): string {
  const level = str(node, 'node', 'log_level', 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new InvalidConfigError(
      'node.log_level',
      `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`,
    );
  return level;
}

function watchSettings(t: Table): NodeConfig['watch'] {
  const s = 'watch';
  return {
    historyEvents: int(t, s, 'history_events', WATCH_DEFAULTS.historyEvents, 0, 10_000_000),
    historyBytes: int(t, s, 'history_bytes', WATCH_DEFAULTS.historyBytes, 0, 2 ** 40),
    futureWaitMs: int(t, s, 'future_wait_ms', WATCH_DEFAULTS.futureWaitMs, 0, 600_000),
    bufferBytesMax: int(t, s, 'buffer_bytes', WATCH_BUFFER_BYTES_MAX, 2 ** 16, 2 ** 32),
  };
}

function machineSettings(t: Table): MachineSettings {
  const s = 'machines';
  return {
    sessions: {
      sessionsMax: int(t, s, 'sessions_max', SESSION_DEFAULTS.sessionsMax, 1),
      windowMax: int(t, s, 'session_window', SESSION_DEFAULTS.windowMax, 1, 1 << 20),
      idleMs: int(t, s, 'session_idle_ms', SESSION_DEFAULTS.idleMs, 1_000),
    },
    checkpointEntries: int(t, s, 'checkpoint_entries', 1_000, 1),
    stateCommitMs: int(t, s, 'state_commit_ms', 100, 0, 10_000),
    kvState: kvState(t),
  };
}

/** Validates a parsed TOML document. `baseDir` resolves relative paths (the config file's directory). */
export function configFromToml(doc: Table, baseDir = process.cwd()): NodeConfig {
  checkKeys(doc, '', KNOWN_KEYS['']);
  for (const section of SECTIONS)
    if (doc[section] !== undefined) checkKeys(table(doc, section), section, KNOWN_KEYS[section]);
  const node = table(doc, 'node');
  const id = int(node, 'node', 'id', undefined, 1);
  const clusterTable = doc.cluster === undefined ? undefined : table(doc, 'cluster');
  const sharding = table(doc, 'sharding');
  const security = table(doc, 'security');
  const hosts = table(doc, 'hosts');
  let cluster: ClusterSettings | undefined;
  if (clusterTable) {
    const list = members(clusterTable);
    const join = bool(clusterTable, 'cluster', 'join', false);
    if (!join && !list.some((m) => m.id === id)) {
      throw new InvalidConfigError(
        'cluster.members',
        `must include this node (id ${id}) unless cluster.join = true`,
      );
    }
    cluster = {
      members: list,
      join,
      peerWaitRetries: int(clusterTable, 'cluster', 'peer_wait_retries', 50, 0, 100_000),
      peerWaitBackoffMs: int(clusterTable, 'cluster', 'peer_wait_backoff_ms', 50, 1),
      peerWaitBackoffMaxMs: int(clusterTable, 'cluster', 'peer_wait_backoff_max_ms', 2_000, 1),
      leaderBalanceIntervalMs: int(
        clusterTable,
        'cluster',
        'leader_balance_interval_ms',
        1_000,
        0,
        3_600_000,
      ),
      preferredLeaders: nodeIds(clusterTable, 'cluster', 'preferred_leaders'),
    };
  }
  const self = cluster?.members.find((m) => m.id === id);
  const secret = security.secret_file
    ? readFileSync(resolve(baseDir, str(security, 'security', 'secret_file')), 'utf8').trim()
    : (security.secret as string | undefined);
  if (cluster && (typeof secret !== 'string' || secret.length < 16)) {
    throw new InvalidConfigError(
      'security.secret',
      'a cluster needs a shared secret of at least 16 characters',
    );
  }
  const tls = security.tls_cert
    ? {
        cert: resolve(baseDir, str(security, 'security', 'tls_cert')),
        key: resolve(baseDir, str(security, 'security', 'tls_key')),
        ca: resolve(baseDir, str(security, 'security', 'tls_ca')),
      }
    : undefined;
  return {
    node: {
      id,
      dataDir: resolve(baseDir, str(node, 'node', 'data_dir')),
      rpc: checkAddress('node.rpc', str(node, 'node', 'rpc', self?.rpc ?? '127.0.0.1:0')),
      api: checkAddress('node.api', str(node, 'node', 'api', self?.api ?? '127.0.0.1:0')),
      admin: checkAddress('node.admin', str(node, 'node', 'admin', '127.0.0.1:0')),
      requestTimeoutMs: int(node, 'node', 'request_timeout_ms', 5_000, 1),
      logLevel: logLevel(node),
      shutdownTransferMs: int(node, 'node', 'shutdown_transfer_ms', 2_000, 0, 600_000),
    },
    cluster,
    app: appRef(table(doc, 'app'), baseDir),
    layout: layoutOf(doc, {
      userShards: int(sharding, 'sharding', 'user_shards', 32, 1, 4096),
      sharedShards: int(sharding, 'sharding', 'shared_shards', 1, 0, 4096),
    }),
    machines: machineSettings(table(doc, 'machines')),
    raft: raftSettings(table(doc, 'raft')),
    hosts: { threads: int(hosts, 'hosts', 'threads', 0, 0, 256) },
    watch: watchSettings(table(doc, 'watch')),
    testing: { faultInjection: bool(table(doc, 'testing'), 'testing', 'fault_injection', false) },
    storage: storageSettings(table(doc, 'storage'), int(hosts, 'hosts', 'threads', 0, 0, 256)),
    security: { secret: secret ?? '', clients: apiClients(security, baseDir), tls },
  };
}

/** Reads and validates a TOML config file. */
export function loadConfig(path: string): NodeConfig {
  let doc: Table;
  try {
    doc = parse(readFileSync(path, 'utf8')) as Table;
  } catch (error) {
    throw new InvalidConfigError(path, (error as Error).message);
  }
  return configFromToml(doc, dirname(resolve(path)));
}
