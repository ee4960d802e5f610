import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FlotillaClient } from '@flotilla/node';
import { cliCommand } from '../src/local-cluster.ts';
import { freePort } from './ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-standalone-'));
let child: ChildProcess | undefined;
after(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** The same application code as against a cluster: put, conditional put, delete, reads. */
async function application(client: FlotillaClient): Promise<void> {
  assert.equal((await client.put('alice', '1')).ok, true);
  const cas = (await client.command(client.groupOf('alice'), {
    op: 'cas',
    key: 'alice',
    expected: '1',
    value: '2',
  })) as { ok: boolean };
  assert.equal(cas.ok, true);
  const stale = (await client.command(client.groupOf('alice'), {
    op: 'cas',
    key: 'alice',
    expected: '1',
    value: '3',
  })) as { ok: boolean };
  assert.equal(stale.ok, false);
  await client.put('bob', 'x');
  await client.delete('bob');
  assert.equal((await client.get('alice')).value, '2');
  assert.equal((await client.get('bob')).value, null);
}

test('standalone mode (no [cluster] section) runs the same application code, durably, without Raft', {
  timeout: 60_000,
}, async () => {
  const api = await freePort();
  const admin = await freePort();
  const config = join(dir, 'standalone.toml');
  writeFileSync(
    config,
    `[node]\nid = 1\ndata_dir = "${join(dir, 'data')}"\napi = "127.0.0.1:${api}"\nadmin = "127.0.0.1:${admin}"\nlog_level = "warn"\n`,
  );
  const { command, args } = cliCommand();
  const start = () => spawn(command, [...args, 'start', '--config', config], { stdio: 'ignore' });
  child = start();
  const connect = async () => {
    for (let i = 0; ; i++) {
      try {
        return await FlotillaClient.connect({ addresses: [`127.0.0.1:${api}`] });
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
  client.close();

  // Acknowledged writes are durable: they survive kill -9 and restart.
  const exited = new Promise((r) => child!.once('exit', r));
  process.kill(child.pid!, 'SIGKILL');
  await exited;
  child = start();
  client = await connect();
  assert.equal((await client.get('alice')).value, '2');
  assert.equal((await client.get('bob')).value, null);
  client.close();
});
