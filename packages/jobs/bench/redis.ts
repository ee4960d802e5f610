/**
 * The Redis of `bench:jobs`'s BullMQ baseline: one `redis-server` child process (Debian's package, installed by
 * scripts/ensure-redis.sh) on 127.0.0.1 and a free port of its own, never the system's 6379. Durable through the
 * append-only file to the given fsync policy, no RDB snapshots, no eviction (BullMQ requires it). Stopped by its
 * pid; it writes only into the directory it is given and removes nothing.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from '../../node/test/ports.ts';

export type Fsync = 'everysec' | 'always';

export interface RedisOptions {
  /** `appendfsync`: `everysec` (Redis's default with AOF) or `always` (fsync before every reply). */
  readonly fsync: Fsync;
  /** Where the append-only files go (`--dir`); must exist. The caller owns and removes it. */
  readonly dir: string;
}

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The redis-server process's id. */
  readonly pid: number;
  /** Stops the server by pid: SIGTERM, then SIGKILL after STOP_GRACE_MS. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
/** Bound on the server answering PING after its start. */
const READY_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 50;
/** Bound on one PING's reply. */
const PING_TIMEOUT_MS = 1_000;
/** After SIGTERM (Redis flushes the AOF and exits), how long before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Starts on another port when the chosen one was taken meanwhile (the server exits at once), up to this many. */
const PORT_ATTEMPTS = 5;
/** The last lines of the server's output quoted in an error. */
const OUTPUT_TAIL_CHARS = 2_000;

/** True when a `redis-server` binary is on the PATH. */
export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Starts a redis-server child (see the module comment) and resolves once it answers PING. */
export async function startRedis(options: RedisOptions): Promise<RedisServer> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      return await startOn(port, options);
    } catch (error) {
      if (!(error instanceof PortTakenError)) throw error;
      lastError = error;
    }
  }
  throw lastError ?? new Error('redis-server did not start');
}

class PortTakenError extends Error {}

async function startOn(port: number, { fsync, dir }: RedisOptions): Promise<RedisServer> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--daemonize',
      'no',
      '--appendonly',
      'yes',
      '--appendfsync',
      fsync,
      '--save',
      '',
      '--dir',
      dir,
      '--maxmemory-policy',
      'noeviction',
      '--logfile',
      '',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error(
              'redis-server is not on the PATH: run scripts/ensure-redis.sh (installs Debian’s redis-server)',
            )
          : error,
      ),
    );
    child.once('exit', (code, signal) => {
      const why = `redis-server exited before answering PING (code ${code}, signal ${signal}): ${output.trim()}`;
      reject(/address already in use/i.test(output) ? new PortTakenError(why) : new Error(why));
    });
  });
  failed.catch(() => {}); // observed below; a late rejection after a successful start is not an error
  const killOnExit = () => {
    if (running(child)) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (!running(child)) return;
    process.kill(child.pid!, 'SIGTERM');
    const timer = setTimeout(() => {
      if (running(child)) process.kill(child.pid!, 'SIGKILL');
    }, STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  try {
    // When the child is gone before answering, `failed` says why (its exit or spawn error).
    if (!(await Promise.race([failed, waitForPing(port, () => !running(child))]))) await failed;
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, url: `redis://${HOST}:${port}`, pid: child.pid!, stop };
}

function running(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** True once the server on `port` answers PING; false as soon as `gone()`; throws after READY_TIMEOUT_MS. */
async function waitForPing(port: number, gone: () => boolean): Promise<boolean> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (!(await ping(port))) {
    if (gone()) return false;
    if (performance.now() > deadline)
      throw new Error(`redis-server on ${port} did not answer PING within ${READY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  return true;
}

/** True when the server on `port` replies +PONG (also false while it is still loading its AOF). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(PING_TIMEOUT_MS, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
