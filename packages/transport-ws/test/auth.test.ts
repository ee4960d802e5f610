/**
 * Unit tests of upgrade authentication and reconnect backoff: a valid HMAC passes once; a wrong secret,
 * unknown node, stale clock, replay or malformed header is refused with its own reason; delays are capped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUTH_HEADER, AuthVerifier, authHeaders, NODE_HEADER } from '../src/auth.ts';
import { reconnectDelayMs } from '../src/backoff.ts';

const secret = Buffer.from('a-cluster-secret-of-enough-bytes');
const NOW = 1_700_000_000_000;

function verifier(nonceCacheMax = 100): AuthVerifier {
  return new AuthVerifier({
    secret,
    localId: 1,
    clockSkewMaxMs: 30_000,
    nonceCacheMax,
    isKnownNode: (id) => id === 2 || id === 3,
  });
}

test('a peer that knows the secret is accepted once; the same credentials replayed are refused', () => {
  const v = verifier();
  const headers = authHeaders(secret, 2, 1, NOW);
  assert.deepEqual(v.verify(headers, NOW + 5), { ok: true, nodeId: 2 });
  assert.deepEqual(v.verify(headers, NOW + 10), { ok: false, reason: 'replayedNonce', claimedNode: 2 });
});

const cases: [string, Record<string, string>, string][] = [
  ['no credentials', {}, 'noCredentials'],
  ['wrong secret', authHeaders(Buffer.from('another-secret-of-enough-bytes!!'), 2, 1, NOW), 'badSignature'],
  ['signed for another target node', authHeaders(secret, 2, 9, NOW), 'badSignature'],
  [
    'claims another node than it signed for',
    { ...authHeaders(secret, 2, 1, NOW), [NODE_HEADER]: '3' },
    'badSignature',
  ],
  ['unknown node id', authHeaders(secret, 4, 1, NOW), 'unknownNode'],
  ['our own node id', authHeaders(secret, 1, 1, NOW), 'unknownNode'],
  ['timestamp too old', authHeaders(secret, 2, 1, NOW - 31_000), 'staleTimestamp'],
  ['timestamp too far ahead', authHeaders(secret, 2, 1, NOW + 31_000), 'staleTimestamp'],
  [
    'node id not a number',
    { ...authHeaders(secret, 2, 1, NOW), [NODE_HEADER]: '2x' },
    'malformedCredentials',
  ],
  ['auth header garbage', { [NODE_HEADER]: '2', [AUTH_HEADER]: 'v1.1.2.3' }, 'malformedCredentials'],
  ['auth header missing', { [NODE_HEADER]: '2' }, 'malformedCredentials'],
];

for (const [name, headers, reason] of cases) {
  test(`refused: ${name} → ${reason}`, () => {
    const result = verifier().verify(headers, NOW);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, reason);
  });
}

test('the nonce cache is bounded: full of live nonces it refuses, and expired nonces make room', () => {
  const v = verifier(3);
  for (let i = 0; i < 3; i++) assert.equal(v.verify(authHeaders(secret, 2, 1, NOW), NOW).ok, true);
  const refused = v.verify(authHeaders(secret, 2, 1, NOW), NOW);
  assert.deepEqual(refused, { ok: false, reason: 'nonceCacheFull', claimedNode: 2 });
  const later = NOW + 31_000;
  assert.equal(v.verify(authHeaders(secret, 2, 1, later), later).ok, true);
  assert.ok(v.nonceCacheSize <= 3);
});

test('reconnect delays grow exponentially, are capped, and jitter only shortens them', () => {
  const options = { reconnectDelayMinMs: 100, reconnectDelayMaxMs: 5000, reconnectJitterRatio: 0.5 };
  const noJitter = (attempt: number) => reconnectDelayMs(attempt, options, () => 0);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 50].map(noJitter), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  assert.equal(
    reconnectDelayMs(6, options, () => 1),
    2500,
  );
  for (let i = 0; i < 100; i++) {
    const d = reconnectDelayMs(i % 10, options, Math.random);
    assert.ok(d >= 50 && d <= 5000, `delay ${d} out of bounds`);
  }
});
