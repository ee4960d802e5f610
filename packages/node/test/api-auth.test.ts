/**
 * Who may use the client API: tokens checked at the upgrade (a stranger never gets a WebSocket), roles checked
 * per request (read < write < admin, refused with a typed error that names the op and the role), wss when TLS
 * is configured, the CLI's --token / --ca, and an API without credentials kept on loopback.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { FlotillaClient, ForbiddenError, Kv, KvMachine, UnauthenticatedError } from '@flotilla/client';
import { configFromToml, type RunningNode, silentLogger, startNode } from '@flotilla/node';
import { cliCommand } from '../src/operations/local-cluster.ts';
import { freePort } from './ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-auth-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const TOKENS = {
  read: 'reader-token-0123456789',
  write: 'writer-token-0123456789',
  admin: 'admin-token-0123456789',
};
let secured: RunningNode;
let open: RunningNode;
let address = '';
let ca: Buffer;

before(async () => {
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  openssl(
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-ca'],
  );
  openssl(
    ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=node'],
  );
  openssl(
    ...['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
    ...['-out', 'node.crt', '-days', '2', '-extfile', 'ext.cnf'],
  );
  ca = execFileSync('cat', [join(dir, 'ca.crt')]);
  const port = await freePort();
  address = `127.0.0.1:${port}`;
  secured = await startNode(
    configFromToml({
      node: { id: 1, data_dir: join(dir, 'secured'), api: address, admin: `127.0.0.1:${await freePort()}` },
      security: {
        tls_cert: join(dir, 'node.crt'),
        tls_key: join(dir, 'node.key'),
        tls_ca: join(dir, 'ca.crt'),
        clients: Object.entries(TOKENS).map(([role, token]) => ({ name: `${role}er`, token, role })),
      },
    }),
    silentLogger(),
  );
  open = await startNode(
    configFromToml({
      node: {
        id: 1,
        data_dir: join(dir, 'open'),
        api: `0.0.0.0:${await freePort()}`,
        admin: `127.0.0.1:${await freePort()}`,
      },
    }),
    silentLogger(),
  );
});
after(async () => {
  await secured?.stop();
  await open?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const connect = (token: string | undefined) =>
  FlotillaClient.connect({
    addresses: [address],
    timeoutMs: 3_000,
    tls: { ca },
    ...(token ? { token } : {}),
  });

test('no token, or an unknown one: refused at the upgrade with a typed error, and counted', async () => {
  const before = secured.api.counters.unauthenticated;
  await assert.rejects(connect(undefined), UnauthenticatedError);
  await assert.rejects(
    connect('not-a-configured-token'),
    (e: unknown) => e instanceof UnauthenticatedError && /unknown token/.test(e.message),
  );
  assert.equal(secured.api.counters.unauthenticated, before + 2);
  // A plain ws:// client does not get through a wss API either.
  await assert.rejects(
    FlotillaClient.connect({ addresses: [address], timeoutMs: 2_000, token: TOKENS.admin }),
  );
});

test('roles: read queries and watches, write commands, admin changes the cluster; each refusal is typed', async () => {
  const reader = await connect(TOKENS.read);
  const writer = await connect(TOKENS.write);
  const admin = await connect(TOKENS.admin);
  try {
    await new Kv(writer).put('k', 'v');
    assert.equal((await new Kv(reader).get('k')).value, 'v');
    await assert.rejects(new Kv(reader).put('k', 'w'), (e: unknown) => {
      assert.ok(e instanceof ForbiddenError, String(e));
      assert.deepEqual([e.op, e.role, e.required], ['execute', 'read', 'write']);
      return true;
    });
    for (const client of [reader, writer])
      await assert.rejects(
        client.createGroup('made-by-me', 'kv'),
        (e: unknown) => e instanceof ForbiddenError && e.required === 'admin',
      );
    assert.equal((await admin.createGroup('made-by-admin', 'kv')).created, true);
    // A reader may watch.
    const group = reader.groupOf(KvMachine, { key: 'k', shards: 'user' });
    let live = false;
    const watch = reader.watch({ group, key: 'k' }, { onEvents: () => {}, onLive: () => (live = true) });
    const deadline = performance.now() + 5_000;
    while (!live && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    watch.close();
    assert.ok(live);
    assert.ok(secured.api.counters.forbidden >= 3);
  } finally {
    for (const c of [reader, writer, admin]) c.close();
  }
});

test('the CLI takes --token and --ca (or FLOTILLA_TOKEN / FLOTILLA_CA)', async () => {
  const { command, args } = cliCommand();
  const run = (more: string[], env: Record<string, string> = {}) =>
    promisify(execFile)(command, [...args, 'status', '--json', '--api', address, ...more], {
      timeout: 30_000,
      env: { ...process.env, ...env },
    });
  const status = JSON.parse((await run(['--token', TOKENS.read, '--ca', join(dir, 'ca.crt')])).stdout) as {
    nodeId: number;
  };
  assert.equal(status.nodeId, 1);
  const viaEnv = await run([], { FLOTILLA_TOKEN: TOKENS.read, FLOTILLA_CA: join(dir, 'ca.crt') });
  assert.equal((JSON.parse(viaEnv.stdout) as { nodeId: number }).nodeId, 1);
  await assert.rejects(run(['--ca', join(dir, 'ca.crt')]), (e: { stderr?: string }) =>
    /refused the connection|UNAUTHENTICATED/i.test(e.stderr ?? ''),
  );
});

test('no client configured: the API is open but listens on loopback only, and advertises where', async () => {
  assert.match(open.api.address, /^127\.0\.0\.1:/);
  const client = await FlotillaClient.connect({ addresses: [open.api.address], timeoutMs: 3_000 });
  try {
    assert.equal(client.topology?.nodes['1'], open.api.address, 'the address it listens on, not 0.0.0.0');
    assert.equal((await client.createGroup('anyone-may', 'kv')).created, true);
    await new Kv(client).put('routed', 'by the topology');
  } finally {
    client.close();
  }
});

test('a node with no api address configured listens on a free port and advertises it', async () => {
  const node = await startNode(
    configFromToml({ node: { id: 1, data_dir: join(dir, 'port0'), admin: '127.0.0.1:0' } }),
    silentLogger(),
  );
  try {
    const client = await FlotillaClient.connect({ addresses: [node.api.address], timeoutMs: 3_000 });
    try {
      assert.equal(client.topology?.nodes['1'], node.api.address);
      const deadline = performance.now() + 10_000;
      while (!(await client.refreshTopology()).ready && performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal((await new Kv(client).put('k', 'v')).previous, null);
    } finally {
      client.close();
    }
  } finally {
    await node.stop();
  }
});
