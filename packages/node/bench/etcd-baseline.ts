/**
 * The etcd baseline of `bench:cluster`, measured in the same run: 3 etcd members (the `etcd` binary, Debian's
 * etcd-server 3.4, installed by scripts/ensure-etcd.sh) on loopback with their data in a temp directory (fsync
 * on, etcd's default), written by the `etcd3` Node client (gRPC over HTTP/2) with the same key and value shapes
 * and the same numbers of requests in flight. The client talks to the leader's endpoint, as ours does.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort } from '../test/ports.ts';

export interface WriteLevel {
  readonly inflight: number;
  readonly ops_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
}

/** True when an `etcd` binary is on the PATH. */
export function etcdAvailable(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs `run` against a fresh 3-member etcd cluster (the leader's client, the members' pids); then stops the
 * members by pid and removes their data.
 */
export async function withEtcd<T>(run: (client: Etcd3, pids: number[]) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-etcd-'));
  const ports = [];
  for (let i = 0; i < 3; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const initial = ports.map((p, i) => `n${i}=http://127.0.0.1:${p.peer}`).join(',');
  const members: ChildProcess[] = ports.map((p, i) =>
    spawn(
      'etcd',
      [
        `--name=n${i}`,
        `--data-dir=${join(dir, `n${i}`)}`,
        `--listen-client-urls=http://127.0.0.1:${p.client}`,
        `--advertise-client-urls=http://127.0.0.1:${p.client}`,
        `--listen-peer-urls=http://127.0.0.1:${p.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${p.peer}`,
        `--initial-cluster=${initial}`,
        '--initial-cluster-state=new',
        '--initial-cluster-token=flotilla-bench',
        '--logger=zap',
        '--log-level=error',
      ],
      { stdio: 'ignore' },
    ),
  );
  const clients = ports.map((p) => new Etcd3({ hosts: `http://127.0.0.1:${p.client}` }));
  try {
    const leader = await findLeader(clients, 30_000);
    return await run(
      leader,
      members.map((m) => m.pid!),
    );
  } finally {
    for (const c of clients) c.close();
    await Promise.all(
      members.map((m) =>
        m.exitCode !== null || m.signalCode !== null
          ? undefined
          : new Promise((resolve) => {
              m.once('exit', resolve);
              process.kill(m.pid!, 'SIGKILL');
            }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The client whose member is the leader, once the cluster has one. */
async function findLeader(clients: readonly Etcd3[], timeoutMs: number): Promise<Etcd3> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    for (const c of clients) {
      const s = await c.maintenance.status().catch(() => undefined);
      if (s && s.leader !== '0' && s.leader === s.header.member_id) return c;
    }
    if (performance.now() > deadline) throw new Error('etcd elected no leader');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Puts of `value` under unique keys with `inflight` requests outstanding, for `seconds`. */
export async function measureEtcd(
  client: Etcd3,
  inflight: number,
  seconds: number,
  value: string,
): Promise<WriteLevel> {
  const latencies: number[] = [];
  let seq = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async (_, w) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await client.put(`w${w}-${seq++}`).value(value);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    Number(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!.toFixed(3));
  return {
    inflight,
    ops_per_s: Math.round(latencies.length / elapsed),
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
  };
}
