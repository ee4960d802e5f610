/**
 * Mutual TLS between two processes: links run over wss with certificates from files generated here by the
 * openssl CLI; a client without a certificate, or with one from another CA, never gets past the handshake.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeMessage } from '@flotilla/core';
import WebSocket from 'ws';
import { authHeaders, PEER_PATH, type WsTlsOptions, WsTransport } from '../src/index.ts';
import { PeerProcess, Recorder, SECRET, sequenced, waitUntil } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-tls-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A certificate for `name` signed by `ca` (serverAuth + clientAuth, SAN 127.0.0.1). */
function issue(ca: string, name: string): WsTlsOptions {
  openssl(
    ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`],
  );
  openssl(
    ...['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial'],
    ...['-out', `${name}.crt`, '-days', '2', '-extfile', 'ext.cnf'],
  );
  return {
    certFile: join(dir, `${name}.crt`),
    keyFile: join(dir, `${name}.key`),
    caFile: join(dir, `${ca}.crt`),
  };
}

function certificateAuthority(name: string): void {
  openssl(
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`],
  );
}

let node1Tls: WsTlsOptions;
let node2Tls: WsTlsOptions;
let rogueTls: WsTlsOptions;
const recorder = new Recorder();
let local: WsTransport | undefined;
let peer: PeerProcess | undefined;

before(() => {
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n',
  );
  certificateAuthority('ca');
  certificateAuthority('rogue-ca');
  node1Tls = issue('ca', 'node-1');
  node2Tls = issue('ca', 'node-2');
  rogueTls = issue('rogue-ca', 'rogue');
});

after(async () => {
  await peer?.kill();
  await local?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('two processes with client certificates exchange messages over wss', { timeout: 30_000 }, async () => {
  local = new WsTransport({ nodeId: 1, clusterSecret: SECRET, tls: node1Tls });
  await local.start(recorder);
  assert.match(local.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
  peer = await PeerProcess.start({
    nodeId: 2,
    peers: [[1, local.url]],
    secret: SECRET,
    mode: 'echo',
    options: { tls: node2Tls },
  });
  local.addPeer(2, peer.url);
  await waitUntil(
    () => local?.linkInfo()[0]?.state === 'open' && local.inboundConnections > 0,
    15_000,
    'wss links',
  );
  for (let i = 0; i < 100; i++) local.send(2, 'meta', sequenced(1, 2, i));
  await waitUntil(() => recorder.delivered.length >= 100, 10_000, 'echoes over wss');
  assert.deepEqual(
    recorder.delivered.map((d) => {
      const m = decodeMessage(d.payload);
      return m.type === 'heartbeat' ? m.commit : -1;
    }),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.equal(local.stats().errors.tls, 0);
});

/** Dials with valid HMAC credentials but the given TLS material; resolves how it ended. */
function dial(tls: { cert?: Buffer; key?: Buffer; ca: Buffer }): Promise<'open' | 'refused'> {
  const server = local!;
  return new Promise((resolve) => {
    const ws = new WebSocket(`${server.url}${PEER_PATH}`, {
      headers: authHeaders(Buffer.from(SECRET), 2, 1, Date.now()),
      ...tls,
    });
    ws.on('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.on('error', () => resolve('refused'));
  });
}

test('without a client certificate, or with one from another CA, the TLS handshake is refused and counted', {
  timeout: 15_000,
}, async () => {
  const ca = readFileSync(node1Tls.caFile!);
  const before = local!.stats().errors.tls;
  assert.equal(await dial({ ca }), 'refused');
  const rogue = { cert: readFileSync(rogueTls.certFile), key: readFileSync(rogueTls.keyFile), ca };
  assert.equal(await dial(rogue), 'refused');
  await waitUntil(() => local!.stats().errors.tls - before >= 2, 5_000, 'tls errors counted');
  const good = { cert: readFileSync(node2Tls.certFile), key: readFileSync(node2Tls.keyFile), ca };
  assert.equal(await dial(good), 'open', 'the same dial with a valid certificate gets in');
});
