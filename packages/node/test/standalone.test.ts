import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FlotillaClient, Kv } from '@flotilla/client';
import { cliCommand } from '../src/operations/local-cluster.ts';
import { exerciseApp } from './app-exercise.ts';
import { Account, Counter } from './fixtures/app.ts';
import { freePort } from './ports.ts';
import { eventually, kvOf } from './process-cluster.ts';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-standalone-'));
let child: ChildProcess | undefined;
after(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** The same application code as against a cluster: put, conditional put, delete, reads. */
async function application(client: FlotillaClient): Promise<void> {
  assert.equal((await kvOf(client).put('alice', '1')).ok, true);
  const kv = new Kv(client);
  assert.equal((await kv.cas('alice', '1', '2')).ok, true);
  assert.deepEqual(await kv.cas('alice', '1', '3'), { ok: false, current: '2' });
  await kvOf(client).put('bob', 'x');
  await kvOf(client).delete('bob');
  assert.equal((await kvOf(client).get('alice')).value, '2');
  assert.equal((await kvOf(client).get('bob')).value, null);
}

const APP = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));

test('standalone mode (no [cluster] section) runs the same application code, durably, as a cluster of one', {
  timeout: 60_000,
}, async () => {
  const api = await freePort();
  const admin = await freePort();
  const config = join(dir, 'standalone.toml');
  writeFileSync(
    config,
    `[node]\nid = 1\ndata_dir = "${join(dir, 'data')}"\napi = "127.0.0.1:${api}"\nadmin = "127.0.0.1:${admin}"\nlog_level = "warn"\n\n[app]\nmodule = "${APP}"\n`,
  );
  const { command, args } = cliCommand();
  const start = () => spawn(command, [...args, 'start', '--config', config], { stdio: 'ignore' });
  child = start();
  const connect = async () => {
    for (let i = 0; ; i++) {
      try {
        const client = await FlotillaClient.connect({ addresses: [`127.0.0.1:${api}`] });
        await eventually('the node is ready', 10_000, async () =>
          (await client.refreshTopology()).ready ? true : undefined,
        );
        return client;
      } catch (error) {
        if (i > 100) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  let client = await connect();
  const status = (await client.status()) as { mode: string };
  assert.equal(status.mode, 'standalone');
  await application(client);
  // The application's machines, entities and leader-only actors run with the same code as in a cluster.
  await exerciseApp(client);
  const claims = await client.query(Counter, 'counter:0', 'claims', {});
  assert.deepEqual(
    claims.map((c) => c.node),
    [1],
    'the leader-only actor runs on the only node',
  );
  client.close();

  // Acknowledged writes are durable: they survive kill -9 and restart.
  const exited = new Promise((r) => child!.once('exit', r));
  process.kill(child.pid!, 'SIGKILL');
  await exited;
  child = start();
  client = await connect();
  assert.equal((await kvOf(client).get('alice')).value, '2');
  assert.equal((await kvOf(client).get('bob')).value, null);
  assert.deepEqual(await client.entity(Account, 'alice').balance({}), { balance: 70, operations: 2 });
  // After the restart the only node leads again, in a new term: its leader-only actor claims again.
  const again = await eventually('a new claim after the restart', 10_000, async () => {
    const list = await client.query(Counter, 'counter:0', 'claims', {});
    return list.length === 2 ? list : undefined;
  });
  assert.ok(again[1]!.term > again[0]!.term);
  client.close();
});
